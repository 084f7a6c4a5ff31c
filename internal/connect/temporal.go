package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/internal/codec"
)

// Temporal says how to reach a Temporal service: a dev server, a self-hosted
// cluster (mTLS) or Temporal Cloud (mTLS or API key).
type Temporal struct {
	Address   string
	Namespace string
	// Identity names this process to Temporal: histories record it as the
	// worker that ran each task and the client that started or signalled a
	// workflow. Empty is the SDK's "<pid>@<hostname>".
	Identity string
	// TLS turns on TLS with the system roots; implied by the fields below.
	TLS bool
	// ClientCertPath and ClientKeyPath are the mTLS client certificate and key.
	ClientCertPath string
	ClientKeyPath  string
	// ServerCAPath replaces the system roots for verifying the server.
	ServerCAPath string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// APIKey authenticates to Temporal Cloud; it implies TLS.
	APIKey string
	// Gzip compresses the gRPC messages: less traffic to a distant Temporal
	// (Temporal Cloud) for some CPU on both sides. Off, messages go as they are.
	Gzip bool
	// Timeout bounds the first connection and the namespace check.
	Timeout time.Duration
	// Logger receives the SDK's logs; nil discards them.
	Logger *slog.Logger
	// Codec, when set, encodes every payload the client and the workers built
	// on it write (workflow and activity inputs and results, signals, queries,
	// markers, memos, heartbeats) and decodes every one they read. When it
	// encrypts, failure messages and stack traces move into an encoded payload
	// too. A codec without keys still matters: it refuses encrypted payloads
	// with a message naming their key, failing the workflow task, where the
	// default converter would fail the workflow.
	Codec *codec.Codec
	// MetricsHandler receives the SDK's metrics and those the workflows
	// record; nil drops them.
	MetricsHandler client.MetricsHandler
}

// DialTemporal connects to Temporal and checks that the namespace exists.
func DialTemporal(ctx context.Context, cfg Temporal) (client.Client, error) {
	where := fmt.Sprintf("connecting to Temporal at %s (namespace %s)", cfg.Address, cfg.Namespace)
	opts, err := cfg.clientOptions()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: is the server running and the address right? (--temporal-address, TEMPORAL_ADDRESS)", where, err)
	}
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.Namespace})
	if err != nil {
		c.Close()
		var notFound *serviceerror.NamespaceNotFound
		if errors.As(err, &notFound) {
			return nil, fmt.Errorf("%s: the namespace does not exist: create it (temporal operator namespace create %s) or set --temporal-namespace", where, cfg.Namespace)
		}
		return nil, fmt.Errorf("%s: describing the namespace: %w", where, err)
	}
	return c, nil
}

func (cfg Temporal) clientOptions() (client.Options, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
		Identity:  cfg.Identity,
		Logger:    tlog.NewStructuredLogger(logger),
		// nil is the SDK's no-op handler.
		MetricsHandler: cfg.MetricsHandler,
	}
	if !cfg.Gzip {
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	if cfg.Codec != nil {
		opts.DataConverter = converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), cfg.Codec)
		if cfg.Codec.Encrypts() {
			opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
				DataConverter:          opts.DataConverter,
				EncodeCommonAttributes: true,
			})
		}
	}
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return client.Options{}, err
	}
	opts.ConnectionOptions.TLS = tlsCfg
	return opts, nil
}

// tlsConfig is nil (plain gRPC) unless TLS is asked for, directly or by a TLS field or an API key.
func (cfg Temporal) tlsConfig() (*tls.Config, error) {
	if !cfg.TLS && cfg.ClientCertPath == "" && cfg.ServerCAPath == "" && cfg.ServerName == "" && cfg.APIKey == "" {
		return nil, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if (cfg.ClientCertPath == "") != (cfg.ClientKeyPath == "") {
		return nil, errors.New("TLS client certificate and key must be given together")
	}
	if cfg.ClientCertPath != "" {
		pair, err := tls.LoadX509KeyPair(cfg.ClientCertPath, cfg.ClientKeyPath)
		if err != nil {
			return nil, fmt.Errorf("loading TLS client certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	}
	if cfg.ServerCAPath != "" {
		pem, err := os.ReadFile(cfg.ServerCAPath)
		if err != nil {
			return nil, fmt.Errorf("reading server CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading server CA: %s holds no PEM certificate", cfg.ServerCAPath)
		}
		tlsCfg.RootCAs = pool
	}
	return tlsCfg, nil
}

func (cfg Temporal) timeout() time.Duration {
	if cfg.Timeout > 0 {
		return cfg.Timeout
	}
	return 10 * time.Second
}
