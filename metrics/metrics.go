package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lethe-rtc/lethe/signaling"
)

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("metrics: bad config")

// Worker is one media worker's figures at a scrape.
type Worker struct {
	Index, PID int
	// Media is nil when the worker did not answer (Err says why).
	Media *signaling.MediaStats
	Err   error
}

// Process is one process's lock-down, property by property (the names
// and values of compliance.ProcessSummary).
type Process struct {
	Role       string // "control" or "worker"
	Index      int
	Properties []Property
}

// Property is one lock-down measure and whether it is in force.
type Property struct {
	Name string
	On   bool
}

// Config says where the figures come from. Every source is optional:
// a nil one's metrics are left out.
type Config struct {
	// Workers asks every worker for its figures (the IPC stats request).
	Workers func(ctx context.Context) []Worker
	// Restarts counts workers replaced after a crash.
	Restarts func() int
	// Connections counts the signaling connections of the control process.
	Connections func() int
	// Lockdown measures every process's lock-down (the attestation's
	// summary); read at most once per LockdownEvery.
	Lockdown      func() []Process
	LockdownEvery time.Duration // default 1 minute
	// Purges lists when the pending purges fall due.
	Purges func(ctx context.Context) ([]time.Time, error)
	// AppLabels lists the apps whose rooms and participants get series
	// labelled with their id; App counts them. Nobody else's id is ever
	// a label.
	AppLabels []uint32
	App       func(app uint32) (rooms, participants int)
	// CPUSeconds and RSS read a process's CPU time and resident memory
	// (internal/procfs); nil: not reported.
	CPUSeconds func(pid int) (float64, error)
	RSS        func(pid int) uint64
	// Timeout bounds a scrape's wait for the workers and the store;
	// default 2s. A scrape as a whole gets scrapeGrace more before it is
	// answered 503.
	Timeout time.Duration
	Now     func() time.Time
}

// Validate reports what makes c unusable.
func (c Config) Validate() error {
	if len(c.AppLabels) > 0 && c.App == nil {
		return errors.Join(ErrConfig, errors.New("app labels without a source of app counts"))
	}
	if len(c.AppLabels) > MaxAppLabels {
		return errors.Join(ErrConfig, errors.New("more than "+strconv.Itoa(MaxAppLabels)+" apps with labels"))
	}
	return nil
}

// MaxAppLabels bounds Config.AppLabels, and so the series they add.
const MaxAppLabels = 32

// JoinBuckets are the join latency histogram's bounds, in seconds.
var JoinBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// maxScrapes bounds the scrapes served at once; more get 503.
const maxScrapes = 4

// scrapeGrace is how much longer than Config.Timeout a scrape may take
// (the lock-down measurement, the encoding) before it is answered 503.
const scrapeGrace = 3 * time.Second

// Metrics is one server's metrics: the instruments its parts report to
// and the sources read at each scrape.
//
// It is built on github.com/prometheus/client_golang with a registry of
// its own (never the default one, which holds the Go runtime and process
// collectors): the scrape-time sources are one collector of constant
// metrics, the join latency and the admin requests are instruments.
type Metrics struct {
	handler http.Handler
	join    prometheus.Histogram   // seconds, JoinBuckets
	admin   *prometheus.CounterVec // requests by status code, "other" out of 100-599
}

// New builds the metrics over cfg's sources.
func New(cfg Config) (*Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.LockdownEvery <= 0 {
		cfg.LockdownEvery = time.Minute
	}
	m := &Metrics{
		join: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lethe_join_latency_seconds", Help: hJoin, Buckets: JoinBuckets,
		}),
		admin: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lethe_admin_requests_total", Help: hAdmin,
		}, []string{"code"}),
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{newSources(cfg), m.join, m.admin} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(ErrConfig, err)
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError, // what could be gathered is served
		MaxRequestsInFlight: maxScrapes,
		Timeout:             cfg.Timeout + scrapeGrace,
	})
	return m, nil
}

// Handler serves the metrics in the exposition format the scraper asks
// for (text by default).
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveJoin files a successful join's latency.
func (m *Metrics) ObserveJoin(d time.Duration) { m.join.Observe(d.Seconds()) }

// CountRequest counts an admin request by its status; a status outside
// 100-599 counts as "other", so that the label stays bounded.
func (m *Metrics) CountRequest(status int) {
	code := "other"
	if status >= 100 && status <= 599 {
		code = strconv.Itoa(status)
	}
	m.admin.WithLabelValues(code).Inc()
}

// lockdownCache keeps the last lock-down measurement for a while: a
// measurement reads every process's /proc and hashes the binary.
type lockdownCache struct {
	read  func() []Process
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	at   time.Time
	last []Process
}

func (l *lockdownCache) get() []Process {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); l.at.IsZero() || now.Sub(l.at) >= l.every {
		l.last, l.at = l.read(), now
	}
	return l.last
}
