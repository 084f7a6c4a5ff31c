// Package metrics is certflow's Prometheus metrics: the names (certflow_*, and
// cert-manager's certmanager_* aliases for dashboards and alerts made for
// cert-manager), a collector that reads the Certificates at scrape time, the
// ACME client's request counters, the Temporal SDK's metrics handler (through
// which the workflows record theirs), and the /metrics server.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prefixes of the metric names: certflow's own, and cert-manager's, under
// which the same series are exported too when asked (Options.CertManagerNames).
const (
	Prefix            = "certflow_"
	CertManagerPrefix = "certmanager_"
)

// Names of the metrics, without a prefix. They are cert-manager's
// (pkg/metrics, internal/collectors), so that the aliases are its names.
const (
	CertificateExpiration = "certificate_expiration_timestamp_seconds"
	CertificateNotBefore  = "certificate_not_before_timestamp_seconds"
	CertificateNotAfter   = "certificate_not_after_timestamp_seconds"
	CertificateRenewal    = "certificate_renewal_timestamp_seconds"
	CertificateReady      = "certificate_ready_status"

	ACMERequestCount    = "http_acme_client_request_count"
	ACMERequestDuration = "http_acme_client_request_duration_seconds"
)

// DefaultAddr is where /metrics is served by default: cert-manager's port.
const DefaultAddr = ":9402"

// prefixes are the prefixes each series is exported under.
func prefixes(certManagerNames bool) []string {
	if certManagerNames {
		return []string{Prefix, CertManagerPrefix}
	}
	return []string{Prefix}
}

// NewRegistry returns a registry with the Go runtime's and the process's
// metrics, to which the parts of the process add theirs.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Serve serves reg's metrics on addr at /metrics until ctx ends. It returns
// once it listens, with the address it listens on (addr may have port 0);
// onFatal is called if the server stops for another reason.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger, onFatal func(error)) (net.Addr, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			onFatal(fmt.Errorf("serving metrics on %s: %w", ln.Addr(), err))
		}
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	return ln.Addr(), nil
}
