package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/certflow/certflow/internal/sandbox"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiRequests counts the API server's requests by verb, resource and
// subresource, from its apiserver_request_total metric.
func apiRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, "apiserver_request_total{"), "} ")
		if !ok || !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(v, `"`)
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		counts[key] += n
	}
	return counts, nil
}

// perIssue formats the requests made between before and after per issuance,
// the most frequent first.
func perIssue(before, after map[string]float64, n int) string {
	diff := map[string]float64{}
	total := 0.0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			diff[k] = d
			total += d
		}
	}
	keys := slices.SortedFunc(maps.Keys(diff), func(a, b string) int { return int(diff[b] - diff[a]) })
	var b strings.Builder
	fmt.Fprintf(&b, "API server requests per issuance: %.1f (including the bench's own polling):", total/float64(n))
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%.1f", k, diff[k]/float64(n))
	}
	return b.String() + "\n"
}

// controlPlaneCPU is the CPU time kube-apiserver and etcd have used so far,
// in seconds, from their metrics (process_cpu_seconds_total).
func controlPlaneCPU(ctx context.Context, k *sandbox.Kubernetes) (apiserver, etcd float64, err error) {
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		return 0, 0, err
	}
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	if apiserver, err = processCPU(string(raw)); err != nil {
		return 0, 0, fmt.Errorf("kube-apiserver: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.EtcdURL()+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("reading etcd's metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("reading etcd's metrics: %w", err)
	}
	if etcd, err = processCPU(string(body)); err != nil {
		return 0, 0, fmt.Errorf("etcd: %w", err)
	}
	return apiserver, etcd, nil
}

// processCPU reads process_cpu_seconds_total from Prometheus text.
func processCPU(metrics string) (float64, error) {
	for _, line := range strings.Split(metrics, "\n") {
		if value, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	return 0, errors.New("no process_cpu_seconds_total in its metrics")
}
