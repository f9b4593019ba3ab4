package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/store"
)

// Store is what the sweeper needs of the store; *store.Store implements it.
type Store interface {
	// PendingPurges lists the scheduled purges, the earliest due first.
	PendingPurges(ctx context.Context) ([]store.Purge, error)
	// Purge deletes application id and everything of it if its purge is
	// due at now: store.ErrNotFound if none is pending (already purged),
	// store.ErrNotDue if it is scheduled later.
	Purge(ctx context.Context, id uint32, now time.Time) error
	// Checkpoint folds the WAL into the database file and truncates it.
	Checkpoint(ctx context.Context) error
}

var _ Store = (*store.Store)(nil)

// Sweep periods.
const (
	DefaultInterval = 10 * time.Minute
	// MaxInterval is the longest Interval: no purge may be scheduled sooner
	// than this after its termination (store.MinRetention), so the sweeper
	// always sees a purge before it falls due and wakes for it.
	MaxInterval = store.MinRetention
	// retryDelay is how soon a failed sweep is retried (at most Interval).
	retryDelay = 10 * time.Second
	// readTimeout bounds OldestOverdue's read of the store.
	readTimeout = 5 * time.Second
)

// Log attribute keys.
const (
	logPurged  = "purged"
	logLate    = "late"
	logPending = "pending"
	logErr     = "err"
)

// Sweeper purges applications whose purge is due. Set the exported fields,
// then call Run; do not change them after. The zero values of Now,
// Interval and Logger are time.Now, DefaultInterval and a discarding
// logger.
type Sweeper struct {
	Store    Store
	Now      func() time.Time
	Interval time.Duration
	Logger   *slog.Logger

	mu     sync.Mutex
	status Status
	// earliest is the earliest due time the last successful read of the
	// store saw (zero: none pending); OldestOverdue falls back on it.
	earliest time.Time
}

// Status is what the sweeper has done since it was made.
type Status struct {
	// LastSweep is the time (Now) of the last sweep that completed without
	// error; zero if none has.
	LastSweep time.Time
	// Purged counts the applications purged.
	Purged uint64
	// Failures counts the sweeps that returned an error.
	Failures uint64
}

// Report is what one sweep did.
type Report struct {
	// Purged is the number of applications purged.
	Purged int
	// Late is the longest time by which a purge ran after its deadline.
	Late time.Duration
	// Next is the earliest deadline still pending; zero if none.
	Next time.Time
	// Pending is the number of purges still scheduled.
	Pending int
	// Checkpointed: the WAL was checkpointed and truncated.
	Checkpointed bool
}

// Validate reports what makes the sweeper unusable: no Store, or an
// Interval that is negative or over MaxInterval.
func (s *Sweeper) Validate() error {
	switch {
	case s.Store == nil:
		return fmt.Errorf("%w: no store", ErrConfig)
	case s.Interval < 0 || s.Interval > MaxInterval:
		return fmt.Errorf("%w: interval must be 0 (default %v) .. %v", ErrConfig, DefaultInterval, MaxInterval)
	}
	return nil
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sweeper) interval() time.Duration {
	if s.Interval == 0 {
		return DefaultInterval
	}
	return s.Interval
}

func (s *Sweeper) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run sweeps at once (the start-up sweep), then again at the earliest
// pending deadline or after Interval, whichever comes first (after a
// failed sweep, within ten seconds), until ctx ends; then it returns nil.
// It returns ErrConfig at once if Validate fails.
func (s *Sweeper) Run(ctx context.Context) error {
	if err := s.Validate(); err != nil {
		return err
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		rep, err := s.Sweep(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.interval()
		if err != nil {
			s.log().LogAttrs(ctx, slog.LevelError, "retention sweep failed", slog.String(logErr, err.Error()))
			wait = min(wait, retryDelay)
		}
		if !rep.Next.IsZero() {
			wait = max(0, min(wait, rep.Next.Sub(s.now())))
		}
		timer.Reset(wait)
	}
}

// Sweep purges, oldest deadline first, every application whose purge is
// due at Now, each in its own transaction, then checkpoints the WAL —
// always, so that a purge committed just before a crash, or one whose own
// checkpoint was blocked, is cleared from the files too. A purge that
// fails does not stop the others; the errors are joined.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	var rep Report
	now := s.now()
	pending, err := s.Store.PendingPurges(ctx)
	if err != nil {
		s.count(now, 0, err)
		return rep, fmt.Errorf("retention: sweep: %w", err)
	}
	var (
		errs   []error
		failed time.Time // the deadline of the oldest purge that failed
	)
	for i, p := range pending {
		if p.DueAt.After(now) {
			rep.Next = p.DueAt
			rep.Pending += len(pending) - i
			break
		}
		switch err := s.Store.Purge(ctx, p.SDKAppID, now); {
		case err == nil:
			rep.Purged++
			rep.Late = max(rep.Late, now.Sub(p.DueAt))
		case errors.Is(err, store.ErrNotFound): // purged meanwhile (a deletion request)
		default:
			rep.Pending++
			errs = append(errs, err)
			if failed.IsZero() {
				failed = p.DueAt
			}
		}
	}
	if err := s.Store.Checkpoint(ctx); err != nil {
		errs = append(errs, err)
	} else {
		rep.Checkpointed = true
	}
	err = errors.Join(errs...)
	s.mu.Lock()
	s.earliest = rep.Next
	if !failed.IsZero() {
		s.earliest = failed // still pending, and due
	}
	s.mu.Unlock()
	s.count(now, rep.Purged, err)
	if rep.Purged > 0 {
		s.log().LogAttrs(ctx, slog.LevelInfo, "retention: applications purged",
			slog.Int(logPurged, rep.Purged), slog.Duration(logLate, rep.Late), slog.Int(logPending, rep.Pending))
	}
	if err != nil {
		return rep, fmt.Errorf("retention: sweep: %w", err)
	}
	return rep, nil
}

func (s *Sweeper) count(now time.Time, purged int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Purged += uint64(purged)
	if err != nil {
		s.status.Failures++
		return
	}
	s.status.LastSweep = now
}

// Status returns what the sweeper has done so far.
func (s *Sweeper) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// OldestOverdue is how long ago, at Now, the deadline of the oldest
// pending purge passed, in whole seconds (deadlines are kept to the
// second); 0 if no purge is overdue, which is what it must stay. It reads
// the store, so it also counts purges the sweeper has not seen (one left
// behind by a failed deletion request, or any while the sweeper is not
// running). If the store cannot be read, it answers from the last
// successful sweep's view.
func (s *Sweeper) OldestOverdue() time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	now := s.now()
	var earliest time.Time
	pending, err := s.Store.PendingPurges(ctx)
	if err == nil {
		if len(pending) > 0 {
			earliest = pending[0].DueAt
		}
	} else {
		s.mu.Lock()
		earliest = s.earliest
		s.mu.Unlock()
	}
	if earliest.IsZero() || !now.After(earliest) {
		return 0
	}
	return now.Sub(earliest).Truncate(time.Second)
}
