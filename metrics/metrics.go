package metrics

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"

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
	// Timeout bounds a scrape's wait for the workers; default 2s.
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

// Metrics is one server's metrics: the instruments its parts report to
// and the sources read at each scrape.
//
// It is built on Prometheus's data model and encoder
// (github.com/prometheus/client_model, github.com/prometheus/common/expfmt),
// not on client_golang, whose registry package links expvar: the binary
// holds no expvar code (docs/compliance.md, "no debugging back doors").
type Metrics struct {
	cfg      Config
	lockdown *lockdownCache
	scrapes  chan struct{}

	join histogram // seconds, JoinBuckets

	mu    sync.Mutex
	admin map[int]uint64 // requests by status (100-599, 0 for any other)
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
	return &Metrics{
		cfg:      cfg,
		lockdown: &lockdownCache{read: cfg.Lockdown, every: cfg.LockdownEvery, now: cfg.Now},
		scrapes:  make(chan struct{}, maxScrapes),
		join:     newHistogram(JoinBuckets),
		admin:    map[int]uint64{},
	}, nil
}

// Handler serves the metrics in the exposition format the scraper asks
// for (text by default).
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case m.scrapes <- struct{}{}:
			defer func() { <-m.scrapes }()
		default:
			http.Error(w, "too many scrapes at once", http.StatusServiceUnavailable)
			return
		}
		fams := m.Gather(r.Context())
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		w.Header().Set("Content-Type", string(format))
		enc := expfmt.NewEncoder(w, format)
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				return // the scraper went away
			}
		}
		if c, ok := enc.(expfmt.Closer); ok {
			_ = c.Close()
		}
	})
}

// ObserveJoin files a successful join's latency.
func (m *Metrics) ObserveJoin(d time.Duration) { m.join.observe(d.Seconds()) }

// CountRequest counts an admin request by its status; a status outside
// 100-599 counts as "other", so that the label stays bounded.
func (m *Metrics) CountRequest(status int) {
	if status < 100 || status > 599 {
		status = 0
	}
	m.mu.Lock()
	m.admin[status]++
	m.mu.Unlock()
}

// histogram counts observations into fixed buckets without locks; the
// sum is kept in millionths.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1: the last above every bound
	sum    atomic.Uint64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // the first bound >= v
	h.counts[i].Add(1)
	h.sum.Add(uint64(math.Round(max(v, 0) * 1e6)))
}

func (h *histogram) snapshot() ([]uint64, float64) {
	counts := make([]uint64, len(h.counts))
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
	}
	return counts, float64(h.sum.Load()) / 1e6
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
