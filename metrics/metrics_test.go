package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lethe-rtc/lethe/signaling"
)

// scrape serves m's handler once and parses the text format.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

// value is the sample of name whose labels include want, or -1.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

func series(fams map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

type fakeWorkers struct {
	media atomic.Pointer[signaling.MediaStats]
	down  atomic.Bool
}

func (f *fakeWorkers) read(context.Context) []Worker {
	if f.down.Load() {
		return []Worker{{Index: 0, PID: 42, Err: errors.New("worker 0 exited")}}
	}
	return []Worker{{Index: 0, PID: 42, Media: f.media.Load()}}
}

func media(packets uint64, rooms int) *signaling.MediaStats {
	return &signaling.MediaStats{
		Rooms: rooms, Participants: 2 * rooms, PublishedTracks: rooms, SubscribedTracks: rooms,
		PacketsIn: packets, PacketsOut: 2 * packets, BytesIn: 1000 * packets, BytesOut: 2000 * packets,
		NACKsIn: 3, PLIsOut: 4, Dropped: []uint64{1, 2, 3, 4, 5, 6, 7},
		DataReceived: 9, DataDropped: []uint64{2}, // fewer than the reasons: the rest are 0
		RTT:       signaling.Histogram{Counts: []uint64{1, 2, 0}, Sum: 0.3},
		RTTBounds: []float64{0.05, 0.1},
		Loss:      signaling.Histogram{Counts: []uint64{5, 0}, Sum: 0}, // no bounds: not exposed
	}
}

func newTestMetrics(t *testing.T, w *fakeWorkers, cfg Config) *Metrics {
	t.Helper()
	cfg.Workers = w.read
	cfg.CPUSeconds = func(int) (float64, error) { return 1.5, nil }
	cfg.RSS = func(int) uint64 { return 1 << 20 }
	cfg.Restarts = func() int { return 1 }
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWorkerFigures(t *testing.T) {
	t.Parallel()
	w := &fakeWorkers{}
	w.media.Store(media(10, 1))
	m := newTestMetrics(t, w, Config{})
	fams := scrape(t, m)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lethe_worker_up", []string{"worker", "0"}, 1},
		{"lethe_rooms", nil, 1},
		{"lethe_participants", nil, 2},
		{"lethe_packets_in_total", nil, 10},
		{"lethe_packets_out_total", nil, 20},
		{"lethe_bytes_in_total", nil, 10000},
		{"lethe_bytes_out_total", nil, 20000},
		{"lethe_nacks_total", nil, 3},
		{"lethe_plis_total", nil, 4},
		{"lethe_packets_dropped_total", []string{"reason", "queue_full"}, 1},
		{"lethe_packets_dropped_total", []string{"reason", "bitrate"}, 7},
		{"lethe_data_messages_received_total", nil, 9},
		{"lethe_data_messages_dropped_total", []string{"reason", "slow_receiver"}, 2},
		{"lethe_data_messages_rejected_total", []string{"reason", "unknown_peer"}, 0},
		{"lethe_rtt_seconds", nil, 3},
		{"lethe_worker_cpu_seconds_total", nil, 1.5},
		{"lethe_worker_resident_memory_bytes", nil, 1 << 20},
		{"lethe_worker_restarts_total", nil, 1},
	} {
		if got := value(fams, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	h := fams["lethe_rtt_seconds"].Metric[0].Histogram
	if b := h.Bucket; len(b) < 2 || b[0].GetCumulativeCount() != 1 || b[1].GetCumulativeCount() != 3 {
		t.Errorf("rtt buckets %v", b)
	}
	if _, ok := fams["lethe_loss_ratio"]; ok {
		t.Error("a loss histogram whose counts do not match its bounds was exposed")
	}

	// The counters move; the set of series does not.
	before := series(fams)
	w.media.Store(media(500, 1))
	fams = scrape(t, m)
	if got := value(fams, "lethe_packets_in_total"); got != 500 {
		t.Errorf("packets in %v after more packets", got)
	}
	if series(fams) != before {
		t.Errorf("%d series, %d before", series(fams), before)
	}

	// A worker that does not answer: up 0, its media series gone.
	w.down.Store(true)
	fams = scrape(t, m)
	if got := value(fams, "lethe_worker_up"); got != 0 {
		t.Errorf("worker_up %v for a worker that did not answer", got)
	}
	if _, ok := fams["lethe_packets_in_total"]; ok {
		t.Error("packets of a worker that did not answer")
	}
}

func TestBoundedLabels(t *testing.T) {
	t.Parallel()
	w := &fakeWorkers{}
	rooms := atomic.Int64{}
	rooms.Store(1)
	w.media.Store(media(1, 1))
	m := newTestMetrics(t, w, Config{
		AppLabels: []uint32{1400000001},
		App:       func(app uint32) (int, int) { return int(rooms.Load()), 2 * int(rooms.Load()) },
		Lockdown: func() []Process {
			return []Process{{Role: "worker", Index: 0, Properties: []Property{{"landlock", true}, {"seccomp", false}}}}
		},
	})
	m.CountRequest(200)
	m.CountRequest(1000)
	m.ObserveJoin(30 * time.Millisecond)
	base := series(scrape(t, m))
	for i := range 100 {
		rooms.Store(int64(i))
		w.media.Store(media(uint64(i), i))
		m.CountRequest(200)
		m.ObserveJoin(time.Duration(i) * time.Millisecond)
	}
	fams := scrape(t, m)
	if n := series(fams); n != base {
		t.Errorf("%d series after 100 rooms, %d before", n, base)
	}
	if got := value(fams, "lethe_app_rooms", "app", "1400000001"); got != 99 {
		t.Errorf("app rooms %v", got)
	}
	if got := value(fams, "lethe_admin_requests_total", "code", "other"); got != 1 {
		t.Errorf("status 1000 counted as %v other", got)
	}
	if got := value(fams, "lethe_join_latency_seconds"); got != 101 {
		t.Errorf("join latency count %v", got)
	}
	if got := value(fams, "lethe_lockdown", "property", "seccomp"); got != 0 {
		t.Errorf("seccomp lockdown %v", got)
	}
	// Only Lethe's series: the registry is not the default one, which
	// holds the Go runtime and process collectors.
	for name := range fams {
		if !strings.HasPrefix(name, "lethe_") {
			t.Errorf("series %s", name)
		}
	}
	// Every label name is one of the bounded few.
	allowed := map[string]bool{"worker": true, "reason": true, "code": true, "role": true, "index": true, "property": true, "app": true}
	for name, f := range fams {
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if !allowed[l.GetName()] {
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}
}

func TestLockdownCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	var reads int
	l := &lockdownCache{read: func() []Process { reads++; return nil }, every: time.Minute, now: func() time.Time { return now }}
	l.get()
	now = now.Add(59 * time.Second)
	l.get()
	if reads != 1 {
		t.Fatalf("%d measurements within a minute", reads)
	}
	now = now.Add(time.Second)
	l.get()
	if reads != 2 {
		t.Fatalf("%d measurements after a minute", reads)
	}
}

func TestPurges(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	m, err := New(Config{Now: func() time.Time { return now }, Purges: func(context.Context) ([]time.Time, error) {
		return []time.Time{now.Add(-90 * time.Second), now.Add(-10 * time.Second), now.Add(time.Hour)}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, m)
	if got := value(fams, "lethe_purges_pending"); got != 3 {
		t.Errorf("pending %v", got)
	}
	if got := value(fams, "lethe_purge_oldest_overdue_seconds"); got != 90 {
		t.Errorf("overdue %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"app labels without counts", Config{AppLabels: []uint32{1}}},
		{"too many app labels", Config{AppLabels: make([]uint32, MaxAppLabels+1), App: func(uint32) (int, int) { return 0, 0 }}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err %v, want ErrConfig", err)
			}
		})
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// A worker's histogram is exposed only when its counts fit its bounds and
// the bounds increase.
func TestWorkerHistogramBounds(t *testing.T) {
	t.Parallel()
	many := make([]float64, maxBuckets+1)
	for i := range many {
		many[i] = float64(i)
	}
	for _, tt := range []struct {
		name   string
		bounds []float64
		counts []uint64
		ok     bool
	}{
		{"fits", []float64{0.1, 0.2}, []uint64{1, 2, 3}, true},
		{"no bounds, one count", nil, []uint64{4}, true},
		{"a count short", []float64{0.1, 0.2}, []uint64{1, 2}, false},
		{"a count too many", []float64{0.1}, []uint64{1, 2, 3}, false},
		{"unsorted", []float64{0.2, 0.1}, []uint64{1, 2, 3}, false},
		{"a bound twice", []float64{0.1, 0.1}, []uint64{1, 2, 3}, false},
		{"too many", many, make([]uint64, len(many)+1), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorkers{}
			m := media(1, 1)
			m.RTTBounds, m.RTT = tt.bounds, signaling.Histogram{Counts: tt.counts, Sum: 1}
			w.media.Store(m)
			fams := scrape(t, newTestMetrics(t, w, Config{}))
			f, ok := fams["lethe_rtt_seconds"]
			if ok != tt.ok {
				t.Fatalf("exposed %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			var total uint64
			for _, c := range tt.counts {
				total += c
			}
			// The text format adds the +Inf bucket.
			if h := f.Metric[0].Histogram; h.GetSampleCount() != total || len(h.Bucket) != len(tt.bounds)+1 {
				t.Errorf("count %d, %d buckets; want %d, %d", h.GetSampleCount(), len(h.Bucket), total, len(tt.bounds)+1)
			}
		})
	}
}
