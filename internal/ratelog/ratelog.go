package ratelog

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultInterval = time.Minute
	DefaultMaxKeys  = 64
)

// Attribute keys of a summary line.
const (
	AttrRepeated = "repeated" // how many occurrences were not written
	AttrIn       = "in"       // the interval they were counted in
)

// overflowMsg is the message of the summary of the keys beyond MaxKeys.
const overflowMsg = "other repeated diagnostics"

// Config says how Logger counts. Zero fields take the defaults.
type Config struct {
	Interval time.Duration    // how long repeats are counted before a summary; default one minute
	MaxKeys  int              // keys tracked at once; default 64
	Now      func() time.Time // default time.Now
}

// Logger writes through an slog.Logger, rate limited per key. It is safe
// for concurrent use.
type Logger struct {
	log      *slog.Logger
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu       sync.Mutex
	keys     map[string]*entry
	overflow *entry // the keys beyond maxKeys, counted together
	next     time.Time
}

// entry is one key's current interval: its first line was written at
// start; repeated occurrences have been counted since.
type entry struct {
	start    time.Time
	repeated int
	level    slog.Level
	msg      string
}

// New returns a Logger that writes to log (nil: discard).
func New(log *slog.Logger, cfg Config) *Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Logger{log: log, interval: cfg.Interval, maxKeys: cfg.MaxKeys, now: cfg.Now, keys: make(map[string]*entry)}
}

// line is a record to write once the lock is released.
type line struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// Log writes msg with attrs at level if key has not been seen in the
// current interval; otherwise it only counts it. A key seen again after a
// quiet interval is written again. The summary repeats the first
// occurrence's level and msg, not its attrs, which may be an example (the
// host name of the first refused request): give each key a message of its
// own.
func (l *Logger) Log(ctx context.Context, level slog.Level, key, msg string, attrs ...slog.Attr) {
	now := l.now()
	l.mu.Lock()
	out := l.expireLocked(now, false)
	e, ok := l.keys[key]
	switch {
	case ok:
		e.repeated++
	case len(l.keys) < l.maxKeys:
		l.keys[key] = &entry{start: now, level: level, msg: msg}
		out = append(out, line{level, msg, attrs})
	case l.overflow != nil:
		l.overflow.repeated++
	default:
		l.overflow = &entry{start: now, level: level, msg: overflowMsg}
		out = append(out, line{level, msg, attrs})
	}
	if l.next.IsZero() {
		l.next = now.Add(l.interval)
	}
	l.mu.Unlock()
	l.write(ctx, out)
}

// Flush writes the summary of every key whose interval has ended. Run
// calls it; a Logger that nobody runs flushes on the next Log instead.
func (l *Logger) Flush() {
	l.mu.Lock()
	out := l.expireLocked(l.now(), false)
	l.mu.Unlock()
	l.write(context.Background(), out)
}

// Run flushes once per interval until ctx ends, then writes the summary
// of everything still counted.
func (l *Logger) Run(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			out := l.expireLocked(l.now(), true)
			l.mu.Unlock()
			l.write(context.Background(), out)
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// expireLocked ends the intervals that are over at now (all of them if
// all): a key with repeats gets its summary and a new interval, in which
// further occurrences are counted; a key without is forgotten.
func (l *Logger) expireLocked(now time.Time, all bool) []line {
	if !all && (l.next.IsZero() || now.Before(l.next)) {
		return nil
	}
	var out []line
	l.next = time.Time{}
	end := func(e *entry) bool { // reports whether e stays
		if !all && now.Sub(e.start) < l.interval {
			if n := e.start.Add(l.interval); l.next.IsZero() || n.Before(l.next) {
				l.next = n
			}
			return true
		}
		if e.repeated == 0 {
			return false
		}
		out = append(out, line{e.level, e.msg, []slog.Attr{
			slog.Int(AttrRepeated, e.repeated), slog.Duration(AttrIn, now.Sub(e.start).Round(time.Second))}})
		e.start, e.repeated = now, 0
		if n := now.Add(l.interval); !all && (l.next.IsZero() || n.Before(l.next)) {
			l.next = n
		}
		return !all
	}
	for _, k := range slices.Sorted(maps.Keys(l.keys)) { // a stable order for the summaries
		if !end(l.keys[k]) {
			delete(l.keys, k)
		}
	}
	if l.overflow != nil && !end(l.overflow) {
		l.overflow = nil
	}
	return out
}

func (l *Logger) write(ctx context.Context, out []line) {
	for _, ln := range out {
		l.log.LogAttrs(ctx, ln.level, ln.msg, ln.attrs...)
	}
}
