package readiness

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Check is one condition of readiness. Func returns nil when it holds; it
// must return when ctx ends.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// States of a check in the body.
const (
	StateOK      = "ok"
	StateFailing = "failing"
	StateTimeout = "timeout" // no answer within Config.Timeout
)

// Result is one check's line in the body.
type Result struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Body is the JSON answer of the handler.
type Body struct {
	Ready  bool     `json:"ready"`
	Checks []Result `json:"checks"`
}

// Config configures a Handler.
type Config struct {
	Checks []Check
	// Timeout bounds each check, default 2s.
	Timeout time.Duration
	// Failed, if set, is told of each check that did not pass and why.
	Failed func(name string, err error)
}

// Handler runs every check, at once and each within the timeout, per
// request.
type Handler struct {
	cfg Config
}

// NewHandler returns a handler of cfg's checks.
func NewHandler(cfg Config) *Handler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	return &Handler{cfg: cfg}
}

// Run runs every check and returns the body.
func (h *Handler) Run(ctx context.Context) Body {
	out := Body{Ready: true, Checks: make([]Result, len(h.cfg.Checks))}
	errs := make([]error, len(h.cfg.Checks))
	var wg sync.WaitGroup
	for i, c := range h.cfg.Checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
			defer cancel()
			errs[i] = c.Func(cctx)
			if errs[i] != nil && cctx.Err() != nil && ctx.Err() == nil {
				errs[i] = errors.Join(errTimeout, errs[i])
			}
		})
	}
	wg.Wait()
	for i, c := range h.cfg.Checks {
		state := StateOK
		switch {
		case errors.Is(errs[i], errTimeout):
			state = StateTimeout
		case errs[i] != nil:
			state = StateFailing
		}
		if errs[i] != nil {
			out.Ready = false
			if h.cfg.Failed != nil {
				h.cfg.Failed(c.Name, errs[i])
			}
		}
		out.Checks[i] = Result{Name: c.Name, State: state}
	}
	return out
}

var errTimeout = errors.New("readiness: check timed out")

// ServeHTTP answers 200 when every check passes, 503 otherwise; the body
// is a Body either way.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := h.Run(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Throttle returns a check function that runs f at most once per every
// and, in between, answers with f's last result: for a check that costs
// something (a committed write), so that probing /readyz in a loop costs
// at most one run per interval. Calls at once wait for the one running.
func Throttle(f func(ctx context.Context) error, every time.Duration, now func() time.Time) func(ctx context.Context) error {
	var (
		mu   sync.Mutex
		last time.Time
		err  error
		ran  bool
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if t := now(); !ran || t.Sub(last) >= every || t.Before(last) {
			err, last, ran = f(ctx), t, true
		}
		return err
	}
}
