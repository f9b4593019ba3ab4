package ratelog

import (
	"context"
	"fmt"
	"github.com/lethe-rtc/lethe/internal/testclock"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// records is an slog.Handler that keeps every record as "LEVEL msg k=v ...".
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, b.String())
	return nil
}

func (r *records) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

func newTest(maxKeys int) (*Logger, *testclock.Clock, *records) {
	c := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r := &records{}
	return New(slog.New(r), Config{Interval: time.Minute, MaxKeys: maxKeys, Now: c.Now}), c, r
}

func expect(t *testing.T, r *records, want ...string) {
	t.Helper()
	got := r.take()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFirstLoggedRepeatsSummarised(t *testing.T) {
	t.Parallel()
	l, c, r := newTest(0)
	ctx := context.Background()
	for range 1000 {
		l.Log(ctx, slog.LevelWarn, "401", "admin request refused", slog.Int("status", 401))
	}
	l.Log(ctx, slog.LevelInfo, "other", "something else")
	expect(t, r, "WARN admin request refused status=401", "INFO something else")

	c.Advance(59 * time.Second)
	l.Flush()
	expect(t, r) // the interval is not over

	c.Advance(time.Second)
	l.Flush()
	// One summary for the repeated key; the key seen once needs none.
	expect(t, r, "WARN admin request refused repeated=999 in=1m0s")

	// The flood goes on: counted in the new interval, not written.
	for range 5 {
		l.Log(ctx, slog.LevelWarn, "401", "admin request refused", slog.Int("status", 401))
	}
	expect(t, r)
	c.Advance(time.Minute)
	l.Flush()
	expect(t, r, "WARN admin request refused repeated=5 in=1m0s")

	// A quiet interval forgets the key: the next occurrence is written again.
	c.Advance(time.Minute)
	l.Flush()
	expect(t, r)
	l.Log(ctx, slog.LevelWarn, "401", "admin request refused", slog.Int("status", 401))
	expect(t, r, "WARN admin request refused status=401")
}

// Without Run, the summary comes with the next Log after the interval.
func TestFlushOnLog(t *testing.T) {
	t.Parallel()
	l, c, r := newTest(0)
	ctx := context.Background()
	l.Log(ctx, slog.LevelWarn, "a", "a")
	l.Log(ctx, slog.LevelWarn, "a", "a")
	c.Advance(90 * time.Second)
	l.Log(ctx, slog.LevelWarn, "b", "b")
	expect(t, r, "WARN a", "WARN a repeated=1 in=1m30s", "WARN b")
}

func TestBoundedKeys(t *testing.T) {
	t.Parallel()
	l, c, r := newTest(3)
	ctx := context.Background()
	for i := range 1000 {
		l.Log(ctx, slog.LevelWarn, fmt.Sprint("k", i), "refused", slog.Int("i", i))
	}
	if n := len(l.keys); n != 3 {
		t.Fatalf("%d keys tracked, want 3", n)
	}
	// Three keys and the first overflowing one are written; the other 996
	// are counted together.
	expect(t, r, "WARN refused i=0", "WARN refused i=1", "WARN refused i=2", "WARN refused i=3")
	c.Advance(time.Minute)
	l.Flush()
	expect(t, r, "WARN other repeated diagnostics repeated=996 in=1m0s")
	// The keys seen once are forgotten; the overflow counts on for another
	// interval, and is forgotten after a quiet one.
	if len(l.keys) != 0 || l.overflow == nil || l.overflow.repeated != 0 {
		t.Errorf("after the interval: %d keys, overflow %+v", len(l.keys), l.overflow)
	}
	c.Advance(time.Minute)
	l.Flush()
	expect(t, r)
	if l.overflow != nil {
		t.Errorf("after a quiet interval: overflow %+v", l.overflow)
	}
}

// Run writes what is still counted when it stops.
func TestRunFlushesAtEnd(t *testing.T) {
	t.Parallel()
	l, c, r := newTest(0)
	ctx, cancel := context.WithCancel(context.Background())
	for range 3 {
		l.Log(ctx, slog.LevelError, "x", "boom")
	}
	c.Advance(10 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	cancel()
	<-done
	expect(t, r, "ERROR boom", "ERROR boom repeated=2 in=10s")
	if len(l.keys) != 0 {
		t.Errorf("%d keys left", len(l.keys))
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	l, _, r := newTest(0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 500 {
				l.Log(context.Background(), slog.LevelWarn, fmt.Sprint(g%2), "x")
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	n := l.keys["0"].repeated + l.keys["1"].repeated
	l.mu.Unlock()
	if lines := len(r.take()); lines != 2 || n != 4000-2 {
		t.Errorf("%d lines, %d counted; want 2 and 3998", lines, n)
	}
}

func BenchmarkLogRepeated(b *testing.B) {
	l := New(slog.New(slog.DiscardHandler), Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(ctx, slog.LevelWarn, "k", "refused")
	}
}
