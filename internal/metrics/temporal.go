package metrics

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Temporal is the Temporal SDK's metrics handler (client.Options.MetricsHandler)
// on certflow's /metrics: the SDK's own series (temporal_*: task latencies,
// pollers, sticky cache, requests) and those certflow's workflows record
// through workflow.GetMetricsHandler (certflow_*), which skips replays, so
// that each event counts once however often a workflow is replayed.
//
// Names follow Prometheus's conventions as the SDK's tally bridge names them
// (which Temporal's dashboards query): a counter gets _total, a timer is a
// histogram in seconds named with _seconds, a gauge keeps its name. The SDK
// records one name with different tag sets (it adds tags as it goes), so a
// family's labels are the union of its series' tag keys, "" where one has none.
type Temporal struct {
	store *temporalStore
	tags  map[string]string
}

var (
	_ client.MetricsHandler = (*Temporal)(nil)
	_ prometheus.Collector  = (*Temporal)(nil)
)

// sdkTags are the tags the SDK puts on everything, workflow metrics included:
// where the code ran. certflow_ series go without them; their own labels say
// what happened, and a Certificate's namespace label cannot clash with
// Temporal's.
var sdkTags = []string{"namespace", "client_name", "worker_type", "workflow_type", "activity_type", "task_queue"}

// Buckets of the timers, in seconds. The SDK's time tasks and requests
// (milliseconds to a minute); certflow's time issuances and waits (seconds
// to a day: a CA's Retry-After may be hours).
var (
	taskBuckets     = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	issuanceBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400}
)

// NewTemporal returns an empty handler; register it on the /metrics registry.
func NewTemporal() *Temporal {
	return &Temporal{store: &temporalStore{families: map[string]*family{}}, tags: map[string]string{}}
}

// WithTags implements client.MetricsHandler: tags replace those of the same key.
func (t *Temporal) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(t.tags)
	maps.Copy(merged, tags)
	return &Temporal{store: t.store, tags: merged}
}

// Counter implements client.MetricsHandler.
func (t *Temporal) Counter(name string) client.MetricsCounter {
	s := t.store.series(strings.TrimSuffix(name, "_total")+"_total", prometheus.CounterValue, nil, t.labels(name))
	return counterFunc(func(d int64) { t.store.update(func() { s.value += float64(d) }) })
}

// Gauge implements client.MetricsHandler.
func (t *Temporal) Gauge(name string) client.MetricsGauge {
	s := t.store.series(name, prometheus.GaugeValue, nil, t.labels(name))
	return gaugeFunc(func(v float64) { t.store.update(func() { s.value = v }) })
}

// Timer implements client.MetricsHandler.
func (t *Temporal) Timer(name string) client.MetricsTimer {
	buckets := taskBuckets
	if strings.HasPrefix(name, Prefix) {
		buckets = issuanceBuckets
	}
	s := t.store.series(name+"_seconds", prometheus.UntypedValue, buckets, t.labels(name))
	return timerFunc(func(d time.Duration) {
		t.store.update(func() {
			v := d.Seconds()
			// The first bucket that holds v; past the last one only +Inf does.
			if i := sort.SearchFloat64s(buckets, v); i < len(buckets) {
				s.counts[i]++
			}
			s.sum += v
			s.count++
		})
	})
}

// labels are the handler's tags as a metric of name carries them.
func (t *Temporal) labels(name string) map[string]string {
	labels := maps.Clone(t.tags)
	if strings.HasPrefix(name, Prefix) {
		for _, k := range sdkTags {
			delete(labels, k)
		}
	}
	return labels
}

type temporalStore struct {
	mu       sync.Mutex
	families map[string]*family
}

// family is one exported name's series. A histogram's kind is UntypedValue
// with buckets set.
type family struct {
	kind    prometheus.ValueType
	buckets []float64
	series  map[string]*series
}

type series struct {
	labels map[string]string
	value  float64  // a counter's or a gauge's
	counts []uint64 // a histogram's, per bucket, not cumulative
	sum    float64
	count  uint64
}

// series finds or makes the series of name with labels.
func (s *temporalStore) series(name string, kind prometheus.ValueType, buckets []float64, labels map[string]string) *series {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[name]
	if !ok {
		f = &family{kind: kind, buckets: buckets, series: map[string]*series{}}
		s.families[name] = f
	}
	keys := slices.Sorted(maps.Keys(labels))
	var id strings.Builder
	for _, k := range keys {
		id.WriteString(k + "=" + labels[k] + "\xff")
	}
	se, ok := f.series[id.String()]
	if !ok {
		se = &series{labels: labels, counts: make([]uint64, len(f.buckets))}
		f.series[id.String()] = se
	}
	return se
}

func (s *temporalStore) update(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// Describe implements prometheus.Collector. It describes nothing: the names
// and labels are known only once recorded (an unchecked collector).
func (t *Temporal) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (t *Temporal) Collect(ch chan<- prometheus.Metric) {
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, f := range s.families {
		keys := map[string]bool{}
		for _, se := range f.series {
			for k := range se.labels {
				keys[k] = true
			}
		}
		labelNames := slices.Sorted(maps.Keys(keys))
		desc := prometheus.NewDesc(name, help(name), labelNames, nil)
		for _, se := range f.series {
			values := make([]string, len(labelNames))
			for i, k := range labelNames {
				values[i] = se.labels[k]
			}
			if f.buckets == nil {
				ch <- prometheus.MustNewConstMetric(desc, f.kind, se.value, values...)
				continue
			}
			cumulative := make(map[float64]uint64, len(f.buckets))
			var n uint64
			for i, upper := range f.buckets {
				n += se.counts[i]
				cumulative[upper] = n
			}
			ch <- prometheus.MustNewConstHistogram(desc, se.count, se.sum, cumulative, values...)
		}
	}
}

type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }

func help(name string) string {
	if strings.HasPrefix(name, Prefix) {
		return "Recorded by certflow's workflows; see the README's Metrics section."
	}
	return "Recorded by the Temporal Go SDK; see Temporal's SDK metrics reference."
}
