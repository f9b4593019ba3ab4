package retention

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/lethe-rtc/lethe/internal/testclock"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/internal/syncbuf"
	"github.com/lethe-rtc/lethe/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_750_000_000, 0).UTC()

const day = 24 * time.Hour

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), store.DBFile)
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// dbBytes is the database file, its WAL and its shared-memory file.
func dbBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// terminated creates an app named name with retention r (0: default),
// with some log entries, and terminates it at at.
func terminated(t *testing.T, s *store.Store, name string, r, at time.Duration) uint32 {
	t.Helper()
	ctx := context.Background()
	a, err := s.CreateApp(ctx, name, []string{name + "-TAG"}, store.Policy{Retention: r}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := s.AppendLog(ctx, a.SDKAppID, store.OpKeyFetch, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TerminateApp(ctx, a.SDKAppID, t0.Add(at)); err != nil {
		t.Fatal(err)
	}
	return a.SDKAppID
}

// TestSweepAtDeadline: each app is purged at its deadline and not a second
// before, and after its purge its name is in none of the database files.
func TestSweepAtDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := openStore(t)
	long := terminated(t, s, "CANARY-LONG-a81c", 0, 0)         // default: 7 days
	short := terminated(t, s, "CANARY-SHORT-4d2e", day, 0)     // 1 day
	hour := terminated(t, s, "CANARY-HOUR-0b7f", time.Hour, 0) // the minimum
	clk := testclock.New(t0)
	sw := &Sweeper{Store: s, Now: clk.Now}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"CANARY-LONG-a81c", "CANARY-SHORT-4d2e", "CANARY-HOUR-0b7f"} {
		if !bytes.Contains(dbBytes(t, path), []byte(c)) {
			t.Fatalf("%s not in the files before any purge: the test proves nothing", c)
		}
	}

	steps := []struct {
		at     time.Duration
		purged int
		gone   []uint32
		next   time.Duration // 0: none pending
		canary string        // gone from the files after this step
	}{
		{0, 0, nil, time.Hour, ""},
		{time.Hour - time.Second, 0, nil, time.Hour, ""},
		{time.Hour, 1, []uint32{hour}, day, "CANARY-HOUR-0b7f"},
		{day - time.Second, 0, []uint32{hour}, day, ""},
		{day, 1, []uint32{hour, short}, 7 * day, "CANARY-SHORT-4d2e"},
		{7*day - time.Second, 0, []uint32{hour, short}, 7 * day, ""},
		{7 * day, 1, []uint32{hour, short, long}, 0, "CANARY-LONG-a81c"},
		{8 * day, 0, []uint32{hour, short, long}, 0, ""},
	}
	for _, st := range steps {
		clk.Set(t0.Add(st.at))
		rep, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatalf("at +%v: %v", st.at, err)
		}
		if rep.Purged != st.purged || !rep.Checkpointed || rep.Late != 0 {
			t.Errorf("at +%v: report %+v, want %d purged, on time", st.at, rep, st.purged)
		}
		if want := t0.Add(st.next); (st.next == 0 && !rep.Next.IsZero()) || (st.next != 0 && !rep.Next.Equal(want)) {
			t.Errorf("at +%v: next %v, want +%v", st.at, rep.Next, st.next)
		}
		for _, id := range []uint32{hour, short, long} {
			_, err := s.App(ctx, id)
			if gone := slices.Contains(st.gone, id); gone != errors.Is(err, store.ErrNotFound) {
				t.Errorf("at +%v: app %d: err = %v, want gone %v", st.at, id, err, gone)
			}
		}
		if d := sw.OldestOverdue(); d != 0 {
			t.Errorf("at +%v: OldestOverdue = %v right after a sweep", st.at, d)
		}
		if st.canary != "" && bytes.Contains(dbBytes(t, path), []byte(st.canary)) {
			t.Errorf("at +%v: %s still in the database files after its purge", st.at, st.canary)
		}
	}
	if got := sw.Status(); got.Purged != 3 || got.Failures != 0 || !got.LastSweep.Equal(t0.Add(8*day)) {
		t.Errorf("status %+v", got)
	}
}

// TestOldestOverdue: without a sweep, the age of the oldest missed
// deadline, to the second; after one, 0.
func TestOldestOverdue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openStore(t)
	clk := testclock.New(t0)
	sw := &Sweeper{Store: s, Now: clk.Now}
	if d := sw.OldestOverdue(); d != 0 {
		t.Errorf("nothing pending: %v", d)
	}
	terminated(t, s, "a", time.Hour, 0)
	terminated(t, s, "b", 2*time.Hour, 0)
	for _, tc := range []struct {
		at, want time.Duration
	}{
		{0, 0},
		{time.Hour, 0},
		{time.Hour + 999*time.Millisecond, 0},
		{time.Hour + 1500*time.Millisecond, time.Second},
		{3 * time.Hour, 2 * time.Hour}, // the oldest of the two
	} {
		clk.Set(t0.Add(tc.at))
		if d := sw.OldestOverdue(); d != tc.want {
			t.Errorf("at +%v, no sweeper: OldestOverdue = %v, want %v", tc.at, d, tc.want)
		}
	}
	if _, err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if d := sw.OldestOverdue(); d != 0 {
		t.Errorf("after the sweep: %v", d)
	}
}

// fakeStore is a Store in memory; a non-nil ...Err field makes that call fail.
type fakeStore struct {
	mu         sync.Mutex
	pending    []store.Purge
	purged     []uint32
	purgedAt   []time.Time // wall-clock time of each purge
	failPurge  map[uint32]error
	PendingErr error
	CheckErr   error
	checks     int
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) PendingPurges(context.Context) ([]store.Purge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.PendingErr != nil {
		return nil, f.PendingErr
	}
	p := slices.Clone(f.pending)
	slices.SortFunc(p, func(a, b store.Purge) int { return a.DueAt.Compare(b.DueAt) })
	return p, nil
}

func (f *fakeStore) Purge(_ context.Context, id uint32, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failPurge[id]; err != nil {
		return err
	}
	i := slices.IndexFunc(f.pending, func(p store.Purge) bool { return p.SDKAppID == id })
	if i < 0 {
		return fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	if f.pending[i].DueAt.After(now) {
		return fmt.Errorf("fake: %w", store.ErrNotDue)
	}
	f.pending = slices.Delete(f.pending, i, i+1)
	f.purged = append(f.purged, id)
	f.purgedAt = append(f.purgedAt, time.Now())
	return nil
}

func (f *fakeStore) Checkpoint(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	return f.CheckErr
}

func (f *fakeStore) state() (purged []uint32, at []time.Time, checks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.purged), slices.Clone(f.purgedAt), f.checks
}

// TestSweepFailures: a failing purge does not stop the others and is
// reported (and counted as overdue); a failed checkpoint is an error; a
// purge already done by a deletion request is not.
func TestSweepFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	boom := errors.New("disk on fire")
	f := &fakeStore{
		pending: []store.Purge{{SDKAppID: 1, DueAt: t0.Add(-2 * time.Hour)}, {SDKAppID: 2, DueAt: t0.Add(-time.Hour)}, {SDKAppID: 3, DueAt: t0}, {SDKAppID: 4, DueAt: t0.Add(time.Hour)}},
		failPurge: map[uint32]error{
			1: boom,
			3: fmt.Errorf("fake: %w", store.ErrNotFound), // purged meanwhile by a deletion request
		},
	}
	clk := testclock.New(t0)
	sw := &Sweeper{Store: f, Now: clk.Now}
	rep, err := sw.Sweep(ctx)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the purge's", err)
	}
	if purged, _, checks := f.state(); !slices.Equal(purged, []uint32{2}) || checks != 1 {
		t.Errorf("purged %v, %d checkpoints", purged, checks)
	}
	if rep.Purged != 1 || rep.Pending != 2 || !rep.Next.Equal(t0.Add(time.Hour)) || rep.Late != time.Hour || !rep.Checkpointed {
		t.Errorf("report %+v", rep)
	}
	if st := sw.Status(); st.Failures != 1 || st.Purged != 1 || !st.LastSweep.IsZero() {
		t.Errorf("status %+v", st)
	}
	// The store cannot be read: OldestOverdue answers from the last sweep,
	// which left app 1 due two hours ago.
	f.mu.Lock()
	f.PendingErr = boom
	f.mu.Unlock()
	if d := sw.OldestOverdue(); d != 2*time.Hour {
		t.Errorf("OldestOverdue with an unreadable store = %v, want 2h", d)
	}
	if _, err := sw.Sweep(ctx); !errors.Is(err, boom) {
		t.Errorf("unreadable store: err = %v", err)
	}
	f.mu.Lock()
	f.PendingErr, f.CheckErr, f.failPurge = nil, store.ErrBusy, nil
	f.mu.Unlock()
	if rep, err := sw.Sweep(ctx); !errors.Is(err, store.ErrBusy) || rep.Checkpointed || rep.Purged != 2 {
		t.Errorf("busy checkpoint: %+v, %v", rep, err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	for _, tc := range []struct {
		name string
		sw   *Sweeper
		ok   bool
	}{
		{"defaults", &Sweeper{Store: f}, true},
		{"an hour", &Sweeper{Store: f, Interval: time.Hour}, true},
		{"no store", &Sweeper{}, false},
		{"over an hour", &Sweeper{Store: f, Interval: time.Hour + time.Second}, false},
		{"negative", &Sweeper{Store: f, Interval: -time.Second}, false},
	} {
		err := tc.sw.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if !tc.ok {
			if err := tc.sw.Run(context.Background()); !errors.Is(err, ErrConfig) {
				t.Errorf("%s: Run: err = %v, want ErrConfig", tc.name, err)
			}
		}
	}
	if MaxInterval > store.MinRetention {
		t.Errorf("MaxInterval %v exceeds the shortest retention %v: a purge could fall due unseen", MaxInterval, store.MinRetention)
	}
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRun: the start-up sweep purges what is already due (a purge a crash
// interrupted), later sweeps follow the clock, and Run returns when its
// context ends, leaving no goroutine.
func TestRun(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	due := terminated(t, s, "CANARY-DUE-61aa", time.Hour, 0)
	later := terminated(t, s, "CANARY-LATER-3e90", day, 0)
	clk := testclock.New(t0.Add(2 * time.Hour))
	logs := &syncbuf.Buffer{}
	sw := &Sweeper{Store: s, Now: clk.Now, Interval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()

	gone := func(id uint32) func() bool {
		return func() bool {
			_, err := s.App(context.Background(), id)
			return errors.Is(err, store.ErrNotFound)
		}
	}
	waitFor(t, "the start-up sweep", gone(due))
	if _, err := s.App(context.Background(), later); err != nil {
		t.Fatalf("purged early: %v", err)
	}
	if d := sw.OldestOverdue(); d != 0 {
		t.Errorf("OldestOverdue = %v with the sweeper running", d)
	}
	clk.Set(t0.Add(day))
	waitFor(t, "the sweep at the deadline", gone(later))
	if d := sw.OldestOverdue(); d != 0 {
		t.Errorf("OldestOverdue = %v with the sweeper running", d)
	}
	waitFor(t, "the log line", func() bool { return strings.Count(logs.String(), "applications purged") == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if bytes.Contains(dbBytes(t, path), []byte("CANARY-")) {
		t.Error("a purged app's name is still in the database files")
	}
	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("the log names a purged app:\n%s", logs.String())
	}
}

// TestRunWakesAtDeadline: with the longest interval, the sweeper still
// wakes at the earliest deadline, and does not purge before it.
func TestRunWakesAtDeadline(t *testing.T) {
	t.Parallel()
	start := time.Now()
	dueAt := start.Add(300 * time.Millisecond)
	f := &fakeStore{pending: []store.Purge{{SDKAppID: 7, DueAt: dueAt}}}
	sw := &Sweeper{Store: f, Interval: MaxInterval}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	waitFor(t, "the purge at its deadline", func() bool { p, _, _ := f.state(); return len(p) == 1 })
	_, at, checks := f.state()
	if at[0].Before(dueAt) || at[0].Sub(dueAt) > time.Second {
		t.Errorf("purged %v after the deadline, want 0..1s", at[0].Sub(dueAt))
	}
	if checks != 2 {
		t.Errorf("%d checkpoints, want 2 (start-up and deadline sweeps)", checks)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func BenchmarkSweepNothingDue(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(b.TempDir(), store.DBFile))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for i := range 100 {
		a, err := s.CreateApp(ctx, fmt.Sprint("a", i), nil, store.Policy{}, t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.TerminateApp(ctx, a.SDKAppID, t0); err != nil {
			b.Fatal(err)
		}
	}
	sw := &Sweeper{Store: s, Now: func() time.Time { return t0 }}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sw.Sweep(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweepOnePurge: one due application (with 20 log entries)
// purged and the WAL checkpointed, per sweep.
func BenchmarkSweepOnePurge(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(b.TempDir(), store.DBFile))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	due := t0.Add(time.Hour)
	sw := &Sweeper{Store: s, Now: func() time.Time { return due }}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		a, err := s.CreateApp(ctx, "a", nil, store.Policy{Retention: time.Hour}, t0)
		if err != nil {
			b.Fatal(err)
		}
		for range 20 {
			if err := s.AppendLog(ctx, a.SDKAppID, store.OpKeyFetch, t0); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.TerminateApp(ctx, a.SDKAppID, t0); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if rep, err := sw.Sweep(ctx); err != nil || rep.Purged != 1 {
			b.Fatal(rep, err)
		}
	}
}

// TestSweepLeavesNoWithdrawal: the withdrawn tokens of a terminated
// application (their keyed hashes) are gone from every database file by
// the end of its purge.
func TestSweepLeavesNoWithdrawal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := openStore(t)
	a, err := s.CreateApp(ctx, "withdrawing", nil, store.Policy{Retention: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][32]byte
	for i := range 20 {
		h := s.TokenHash(fmt.Sprintf("token-%d", i))
		if err := s.WithdrawToken(ctx, a.SDKAppID, h, t0.Add(day), t0); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		if !bytes.Contains(dbBytes(t, path), h[:]) {
			t.Fatal("a withdrawal's hash is not in the files before the purge: the test proves nothing")
		}
	}
	if _, err := s.TerminateApp(ctx, a.SDKAppID, t0); err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(t0.Add(time.Hour))
	rep, err := (&Sweeper{Store: s, Now: clk.Now}).Sweep(ctx)
	if err != nil || rep.Purged != 1 || !rep.Checkpointed {
		t.Fatalf("sweep: %+v, %v", rep, err)
	}
	all := dbBytes(t, path)
	for _, h := range hashes {
		if bytes.Contains(all, h[:]) {
			t.Fatal("a withdrawal's hash is still in the files after the purge")
		}
	}
}
