package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

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
