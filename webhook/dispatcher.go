package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/internal/ratelog"
)

// Defaults of Config, and TRTC's retry schedule.
const (
	DefaultQueue   = 1000             // events queued per application
	DefaultTimeout = 5 * time.Second  // per delivery attempt, as TRTC
	DefaultIdle    = 30 * time.Second // an app's goroutine stops after this long without events
	// RetryInterval and RetryWindow: a failed delivery is tried again at
	// once, then every RetryInterval, while the next try would start
	// less than RetryWindow after the first: tries at 0, 0, 10, 20, 30,
	// 40 and 50 s, seven in all.
	RetryInterval = 10 * time.Second
	RetryWindow   = time.Minute
	// maxAnswer bounds what is read of a receiver's answer (TRTC asks for
	// answers under 2000 bytes); the rest is not read.
	maxAnswer = 4 << 10
)

// Lookup returns application app's callback target, or an error matching
// ErrNoWebhook if it has none (or no longer exists).
type Lookup func(ctx context.Context, app uint32) (Target, error)

// Config configures a Dispatcher. Zero fields take the defaults noted.
type Config struct {
	Lookup Lookup // required
	// Client makes the deliveries; nil: one with DefaultTimeout that never
	// follows redirects. A given client should do the same.
	Client *http.Client
	Queue  int           // per application; default DefaultQueue
	Idle   time.Duration // default DefaultIdle
	Now    func() time.Time
	// After is the retry schedule's timer; nil: time.After. Tests pass one
	// that advances a fake clock, to test a minute without sleeping it.
	After  func(d time.Duration) <-chan time.Time
	Logger *slog.Logger
}

// NewClient returns the delivery client: timeout, no redirects (a 3xx is
// the answer, and a failure), no cookies.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Stats are one application's delivery counts since the process started.
type Stats struct {
	Queued    int    `json:"queued"`    // waiting now
	Delivered uint64 `json:"delivered"` // answered 2xx
	Failed    uint64 `json:"failed"`    // given up after the last retry
	Dropped   uint64 `json:"dropped"`   // refused because the queue was full
}

// Dispatcher delivers events. It is safe for concurrent use; Post never
// blocks.
type Dispatcher struct {
	cfg    Config
	client *http.Client
	diag   *ratelog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	apps   map[uint32]*appQueue
	stats  map[uint32]*Stats
	closed bool
	wg     sync.WaitGroup
}

// appQueue is one application's queue, drained by its goroutine.
type appQueue struct{ ch chan Event }

// New returns a dispatcher; Close stops it.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Lookup == nil {
		return nil, errors.New("webhook: no Lookup")
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{cfg: cfg, client: cfg.Client, apps: make(map[uint32]*appQueue), stats: make(map[uint32]*Stats)}
	if d.client == nil {
		d.client = NewClient(DefaultTimeout)
	}
	d.diag = ratelog.New(cfg.Logger, ratelog.Config{Now: cfg.Now})
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Post queues e for e.App's callback. It never blocks: with the app's
// queue full the event is dropped and counted (Stats.Dropped).
func (d *Dispatcher) Post(e Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	q := d.apps[e.App]
	if q == nil {
		q = &appQueue{ch: make(chan Event, d.cfg.Queue)}
		d.apps[e.App] = q
		d.wg.Add(1)
		go d.run(e.App, q)
	}
	select {
	case q.ch <- e:
	default:
		d.statsLocked(e.App).Dropped++
	}
}

// Stats returns app's counts.
func (d *Dispatcher) Stats(app uint32) Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s Stats
	if p := d.stats[app]; p != nil {
		s = *p
	}
	if q := d.apps[app]; q != nil {
		s.Queued = len(q.ch)
	}
	return s
}

func (d *Dispatcher) statsLocked(app uint32) *Stats {
	s := d.stats[app]
	if s == nil {
		s = &Stats{}
		d.stats[app] = s
	}
	return s
}

// Close stops the deliveries under way and waits for every goroutine;
// queued events are given up.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// run drains app's queue in order until it has been idle for cfg.Idle.
func (d *Dispatcher) run(app uint32, q *appQueue) {
	defer d.wg.Done()
	idle := time.NewTimer(d.cfg.Idle)
	defer idle.Stop()
	for {
		select {
		case e := <-q.ch:
			d.deliver(e)
			idle.Reset(d.cfg.Idle)
		case <-idle.C:
			d.mu.Lock()
			if len(q.ch) == 0 { // Post sends under d.mu: nothing can arrive now
				delete(d.apps, app)
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
			idle.Reset(d.cfg.Idle)
		case <-d.ctx.Done():
			return
		}
	}
}

// deliver sends e, retrying on TRTC's schedule, and counts the outcome.
func (d *Dispatcher) deliver(e Event) {
	target, err := d.cfg.Lookup(d.ctx, e.App)
	if err != nil {
		if !errors.Is(err, ErrNoWebhook) && d.ctx.Err() == nil {
			d.diag.Log(d.ctx, slog.LevelWarn, "webhook lookup", "webhook: callback not looked up; event given up",
				slog.Uint64("app", uint64(e.App)), slog.String("err", err.Error()))
		}
		return // no callback: nothing to deliver
	}
	first := d.cfg.Now()
	for try := 1; ; try++ {
		_, err := d.send(d.ctx, target, e)
		if err == nil {
			d.count(e.App, func(s *Stats) { s.Delivered++ })
			return
		}
		if d.ctx.Err() != nil {
			return
		}
		wait := NextRetry(try)
		if d.cfg.Now().Add(wait).Sub(first) >= RetryWindow {
			d.count(e.App, func(s *Stats) { s.Failed++ })
			d.diag.Log(d.ctx, slog.LevelWarn, "webhook given up", "webhook: event given up after its last retry",
				slog.Uint64("app", uint64(e.App)), slog.Int("event", int(e.Type)), slog.Int("tries", try),
				slog.String("err", err.Error()))
			return
		}
		if wait > 0 {
			select {
			case <-d.cfg.After(wait):
			case <-d.ctx.Done():
				return
			}
		}
	}
}

// NextRetry is how long after failed try number try (1, 2, ...) the next
// one starts: at once after the first, RetryInterval after the others.
func NextRetry(try int) time.Duration {
	if try <= 1 {
		return 0
	}
	return RetryInterval
}

func (d *Dispatcher) count(app uint32, f func(*Stats)) {
	d.mu.Lock()
	f(d.statsLocked(app))
	d.mu.Unlock()
}

// send makes one delivery of e to target and returns the answer's status.
func (d *Dispatcher) send(ctx context.Context, target Target, e Event) (int, error) {
	body, err := e.Marshal(d.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDelivery, ErrURL)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sign", Sign(target.Key, body))
	req.Header.Set("SdkAppId", strconv.FormatUint(uint64(e.App), 10))
	req.Header.Set("User-Agent", "lethe-webhook/1")
	resp, err := d.client.Do(req)
	if err != nil {
		// The error names the URL, which is the app's: keep only its kind.
		return 0, fmt.Errorf("%w: %s", ErrDelivery, transportError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%w: status %d", ErrDelivery, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// transportError describes a client error without its URL.
func transportError(err error) string {
	var ne interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "no answer (connection failed)"
	}
}

// SendTest sends app one test event (Type Test) at once, outside its
// queue and without retries, and returns the receiver's status. No
// callback is ErrNoWebhook; a failed delivery matches ErrDelivery.
func (d *Dispatcher) SendTest(ctx context.Context, app uint32) (int, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	target, err := d.cfg.Lookup(ctx, app)
	if err != nil {
		return 0, err
	}
	return d.send(ctx, target, Event{App: app, Type: Test, At: d.cfg.Now(), Reason: ReasonNormal})
}
