package adminserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/internal/ratelog"
)

// minAdminKeyLen is the shortest admin key NewHandler accepts, in bytes.
const minAdminKeyLen = 16

// maxAuthHeaderLen bounds the Authorization header we look at.
const maxAuthHeaderLen = 1024

// Log attribute keys.
const (
	logRoute  = "route"
	logStatus = "status"
	logApp    = "app"
	logDur    = "dur"
	logErr    = "err"
)

// Config is what NewHandler needs.
type Config struct {
	// Store holds the applications, their key rings and the application log.
	Store Store
	// Rooms controls the live rooms; nil: the rooms endpoints answer 503.
	Rooms Rooms
	// Runtime measures the server's processes; nil: /v1/admin/runtime
	// answers 503.
	Runtime Runtime
	// Webhooks delivers the apps' callbacks (a *webhook.Dispatcher); nil:
	// the test endpoint answers 503 and no delivery counts are shown.
	Webhooks Webhooks
	// AdminKey is the bearer secret, the content of <data-dir>/admin.key;
	// surrounding white space is ignored. At least 16 bytes.
	AdminKey []byte
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Logger receives one line per request served; nil: discard.
	Logger *slog.Logger
	// Refusals receives the lines of refused requests (401, 429), which a
	// flood must not multiply; nil: one of its own over Logger and Now.
	Refusals  *ratelog.Logger
	RateLimit RateLimit
	// Metrics, when set, is served at GET /metrics behind the admin key
	// (metrics.go); Requests hears the status of every request served.
	Metrics  http.Handler
	Requests func(status int)
}

// Validate reports what makes c unusable.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: no store", ErrConfig)
	case len(bytes.TrimSpace(c.AdminKey)) < minAdminKeyLen:
		return fmt.Errorf("%w: admin key shorter than %d bytes", ErrConfig, minAdminKeyLen)
	}
	return nil
}

// handler serves the admin API.
type handler struct {
	store    Store
	rooms    Rooms
	hooks    Webhooks
	rt       Runtime
	keyHash  [sha256.Size]byte // of the admin key; the key itself is not kept
	now      func() time.Time
	log      *slog.Logger
	refused  *ratelog.Logger
	limit    *limiter
	mux      *http.ServeMux
	metrics  http.Handler     // GET /metrics; nil: not served here
	requests func(status int) // nil: nobody counts
}

// NewHandler returns the admin API's http.Handler, which serves the paths
// under /v1/admin/ (and answers 404 to any other). Every request must carry
// "Authorization: Bearer <admin key>", and is rate limited: those with the
// key and those without apart (see RateLimit).
func NewHandler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{
		store:   cfg.Store,
		rooms:   cfg.Rooms,
		hooks:   cfg.Webhooks,
		rt:      cfg.Runtime,
		keyHash: sha256.Sum256(bytes.TrimSpace(cfg.AdminKey)),
		now:     cfg.Now,
		log:     cfg.Logger,
		limit:   newLimiter(cfg.RateLimit),
		mux:     http.NewServeMux(),

		metrics: cfg.Metrics, requests: cfg.Requests,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.refused = cfg.Refusals
	if h.refused == nil {
		h.refused = ratelog.New(h.log, ratelog.Config{Now: h.now})
	}
	h.routes()
	return h, nil
}

// route is one endpoint.
type route struct {
	method, path string
	fn           func(w http.ResponseWriter, r *http.Request) error
}

// Route is one endpoint of the admin API: a method and a ServeMux path
// pattern ("/v1/admin/apps/{app}").
type Route struct {
	Method, Path string
}

// Routes lists the endpoints NewHandler serves, GET /metrics included (it
// is served when Config.Metrics is set), from the table it serves them
// from. The OpenAPI description (package openapi) is checked against it.
func Routes() []Route {
	t := (&handler{metrics: http.NotFoundHandler()}).table()
	out := make([]Route, len(t))
	for i, rt := range t {
		out[i] = Route{Method: rt.method, Path: rt.path}
	}
	return out
}

// table is the admin API's endpoints.
func (h *handler) table() []route {
	const apps, app = "/v1/admin/apps", "/v1/admin/apps/{app}"
	table := []route{
		{"GET", apps, h.listApps},
		{"POST", apps, h.createApp},
		{"GET", app, h.getApp},
		{"PATCH", app, h.updateApp},
		{"POST", app + "/suspend", h.suspendApp},
		{"POST", app + "/resume", h.resumeApp},
		{"POST", app + "/terminate", h.terminateApp},
		{"POST", app + "/delete", h.deleteApp},
		{"GET", "/v1/admin/retention", h.retention},
		{"GET", "/v1/admin/runtime", h.runtime},
		{"GET", app + "/log", h.appLog},
		{"POST", app + "/webhook/test", h.testWebhook},
		{"GET", app + "/keys", h.listKeys},
		{"POST", app + "/keys/rotate", h.rotateKey},
		{"POST", app + "/keys/{kid}/revoke", h.revokeKey},
		{"GET", app + "/keys/current", h.currentKey},
		{"POST", app + "/usersig", h.mintUserSig},
		{"GET", app + "/rooms", h.listRooms},
		{"POST", app + "/rooms/dismiss", h.dismissRoom},
		{"POST", app + "/rooms/remove-user", h.removeUser},
		{"POST", app + "/rooms/block", h.blockUser},
	}
	if h.metrics != nil {
		table = append(table, route{"GET", MetricsPath, h.serveMetrics})
	}
	return table
}

func (h *handler) routes() {
	table := h.table()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range table {
		pattern := rt.method + " " + rt.path
		h.mux.Handle(pattern, h.endpoint(pattern, rt.fn))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// The same paths with any other method: 405 with Allow, as JSON.
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		if slices.Contains(allowed[p], "GET") {
			allow += ", HEAD"
		}
		h.mux.Handle(p, h.endpoint(p, func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("Allow", allow)
			return errorf(http.StatusMethodNotAllowed, admin.CodeMethodNotAllowed, "allowed: %s", allow)
		}))
	}
	h.mux.Handle("/", h.endpoint("/", func(http.ResponseWriter, *http.Request) error {
		return errorf(http.StatusNotFound, admin.CodeNotFound, "no such endpoint")
	}))
}

// reqInfo collects what the request line of the log shows.
type reqInfo struct {
	route string
	app   uint32
	err   *apiError
}

type infoKey struct{}

func infoOf(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// ServeHTTP checks the admin key, rate limits, routes, and logs one line:
// the route pattern, the status, the SDKAppID if any, the duration, and
// for a 500 the cause with user-supplied ids cut out. Never the admin key,
// a secret, a token, a user id or a room name. Refused requests (401, 429)
// are logged through the rate-limited refusal log instead.
//
// A request with the key draws on the bucket of keyed requests only; one
// without draws on the buckets of failed requests only, so that a flood of
// wrong keys cannot starve the operator's requests.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	info := &reqInfo{}
	sw := &statusWriter{ResponseWriter: w}
	setCommonHeaders(w)
	authErr := h.authorize(r)
	var ok bool
	var wait time.Duration
	if authErr == nil {
		ok, wait = h.limit.allowKeyed(start)
	} else {
		ok, wait = h.limit.allowFailed(r.RemoteAddr, start)
	}
	if !ok || authErr != nil {
		_, info.route = h.mux.Handler(r) // for the log only
	}
	switch {
	case !ok:
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(sw, errorf(http.StatusTooManyRequests, admin.CodeRateLimited, "too many requests"))
	case authErr != nil:
		info.err = authErr
		w.Header().Set("WWW-Authenticate", `Bearer realm="lethe-admin"`)
		writeError(sw, authErr)
	default:
		h.mux.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
	}
	h.logRequest(r.Context(), info, sw.status, authErr == nil, h.now().Sub(start))
}

// refusal names the kind of a refused request: the key of the refusal log
// and its message; "" for a request that was not refused.
func refusal(status int, keyed bool) string {
	switch {
	case status == http.StatusUnauthorized:
		return "admin request refused: no valid admin key"
	case status == http.StatusTooManyRequests && keyed:
		return "admin request refused: over the rate limit"
	case status == http.StatusTooManyRequests:
		return "admin request refused: over the limit of failed authentications"
	}
	return ""
}

func (h *handler) logRequest(ctx context.Context, info *reqInfo, status int, keyed bool, dur time.Duration) {
	if status == 0 {
		status = http.StatusOK // nothing written
	}
	if h.requests != nil {
		h.requests(status)
	}
	if msg := refusal(status, keyed); msg != "" {
		h.refused.Log(ctx, slog.LevelWarn, msg, msg, slog.String(logRoute, info.route), slog.Int(logStatus, status))
		return
	}
	attrs := []slog.Attr{slog.String(logRoute, info.route), slog.Int(logStatus, status)}
	if info.app != 0 {
		attrs = append(attrs, slog.Uint64(logApp, uint64(info.app)))
	}
	attrs = append(attrs, slog.Duration(logDur, dur))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		if info.err != nil && info.err.cause != nil {
			attrs = append(attrs, slog.String(logErr, redact(info.err.cause.Error(), info.err.redact)))
		}
	}
	h.log.LogAttrs(ctx, level, "admin request", attrs...)
}

// redact cuts every non-empty s of secrets out of text.
func redact(text string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

// endpoint wraps fn, which ServeHTTP calls only with the admin key: it
// records the route for the log and turns a returned error into an error
// reply.
func (h *handler) endpoint(pattern string, fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoOf(r)
		info.route = pattern
		err := fn(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = internal(err)
		}
		info.err = ae
		writeError(w, ae)
	})
}

// authorize checks "Authorization: Bearer <admin key>". It compares SHA-256
// digests in constant time (crypto/subtle), so neither the key's bytes nor
// its length leak through timing.
func (h *handler) authorize(r *http.Request) *apiError {
	deny := errorf(http.StatusUnauthorized, admin.CodeUnauthorized, "a valid admin key is required")
	values := r.Header.Values("Authorization")
	if len(values) != 1 || len(values[0]) > maxAuthHeaderLen {
		return deny
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return deny
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], h.keyHash[:]) != 1 {
		return deny
	}
	return nil
}

// loadApp parses the {app} path value, records it for the log and loads the
// application.
func (h *handler) loadApp(r *http.Request) (App, error) {
	id, ok := parseAppID(r.PathValue("app"))
	if !ok {
		return App{}, invalid("the SDKAppID in the path must be a number from 1 to 4294967295")
	}
	infoOf(r).app = id
	a, err := h.store.App(r.Context(), id)
	if err != nil {
		return App{}, storeError(err, admin.CodeAppNotFound)
	}
	return a, nil
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
