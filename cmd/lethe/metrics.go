package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/internal/procfs"
	"github.com/lethe-rtc/lethe/metrics"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// metricsFlags are serve's Prometheus flags.
type metricsFlags struct {
	listen    string
	appLabels string
	apps      []uint32 // of appLabels, set by validate
}

func (f *metricsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "metrics-listen", "",
		"address serving Prometheus metrics at /metrics without a key, e.g. 127.0.0.1:9090 (empty: /metrics on --listen, behind the admin key)")
	fs.StringVar(&f.appLabels, "metrics-app-labels", "",
		"comma-separated SDKAppIDs whose rooms and participants get metrics labelled with the app id (none by default; never room or user ids)")
}

func (f *metricsFlags) validate() error {
	if f.listen != "" {
		if _, _, err := net.SplitHostPort(f.listen); err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	f.apps = nil
	for _, s := range splitList(f.appLabels) {
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil || id == 0 {
			return fmt.Errorf("--metrics-app-labels: %q is not an SDKAppID", s)
		}
		f.apps = append(f.apps, uint32(id))
	}
	if len(f.apps) > metrics.MaxAppLabels {
		return fmt.Errorf("--metrics-app-labels: at most %d apps", metrics.MaxAppLabels)
	}
	return nil
}

// serveMetrics is serve's registry over its parts. The signaling edge
// is attached once made: it reports join latencies to the registry.
type serveMetrics struct {
	*metrics.Metrics
	sig atomic.Pointer[control.Server]
}

func newServeMetrics(f *metricsFlags, pool *control.Pool, st *store.Store, attest attestSource) (*serveMetrics, error) {
	sm := &serveMetrics{}
	m, err := metrics.New(metrics.Config{
		Workers: func(ctx context.Context) []metrics.Worker {
			var out []metrics.Worker
			for _, w := range pool.Stats(ctx, signaling.StatsRequest{}) {
				out = append(out, metrics.Worker{Index: w.Index, PID: w.PID, Media: w.Stats.Media, Err: w.Err})
			}
			return out
		},
		Restarts: pool.Restarts,
		Connections: func() int {
			if s := sm.sig.Load(); s != nil {
				return s.Connections()
			}
			return 0
		},
		Lockdown: func() []metrics.Process { return lockdownProperties(compliance.Attest(attest, time.Now()).Summary()) },
		Purges: func(ctx context.Context) ([]time.Time, error) {
			pending, err := st.PendingPurges(ctx)
			due := make([]time.Time, 0, len(pending))
			for _, p := range pending {
				due = append(due, p.DueAt)
			}
			return due, err
		},
		AppLabels: f.apps,
		App: func(app uint32) (rooms, participants int) {
			s := sm.sig.Load()
			if s == nil {
				return 0, 0
			}
			for _, r := range s.Rooms(app) {
				rooms, participants = rooms+1, participants+len(r.Participants)
			}
			return rooms, participants
		},
		CPUSeconds: procfs.CPUSeconds,
		RSS:        func(pid int) uint64 { rss, _ := procfs.Memory(pid); return rss },
	})
	if err != nil {
		return nil, err
	}
	sm.Metrics = m
	return sm, nil
}

// lockdownProperties is the attestation summary as lock-down gauges.
func lockdownProperties(s compliance.Summary) []metrics.Process {
	out := make([]metrics.Process, 0, len(s.Processes))
	for _, p := range s.Processes {
		out = append(out, metrics.Process{Role: p.Role, Index: p.Index, Properties: []metrics.Property{
			{Name: "enforced", On: p.Enforced}, {Name: "landlock", On: p.Landlock}, {Name: "seccomp", On: p.Seccomp},
			{Name: "no_new_privs", On: p.NoNewPrivs}, {Name: "not_dumpable", On: p.NotDumpable},
			{Name: "no_core_dumps", On: p.NoCoreDumps}, {Name: "same_binary", On: p.SameBinary},
			{Name: "memory_locked", On: p.MemoryLocked},
		}})
	}
	return out
}

// serveMetricsListener serves /metrics alone on --metrics-listen, without
// a key (the operator chose an address only Prometheus reaches), until
// stop is called.
func serveMetricsListener(addr string, h http.Handler) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("serve: --metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln) // ErrServerClosed at stop; a failure ends scrapes only
	}()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}, nil
}
