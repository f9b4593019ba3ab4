package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

//go:embed index.html app.js lethe.js lethe-e2ee.js style.css whep.html whep.js
var assets embed.FS

// Config says what Handler serves.
type Config struct {
	// DevToken, when set, turns dev mode on: GET /v1/dev/token mints
	// tokens for loopback clients through it, and the page uses it. When
	// nil that path answers 404 like any unknown path.
	DevToken MintFunc
	// DevTokenTTL is the lifetime asked of DevToken; default and maximum
	// one hour.
	DevTokenTTL time.Duration
	// Logger receives failures (never tokens or user ids); default
	// slog.Default().
	Logger *slog.Logger
	// Now reads the clock; default time.Now.
	Now func() time.Time
}

// MaxDevTokenTTL caps the lifetime of a dev token.
const MaxDevTokenTTL = time.Hour

// DevTokenPath is where dev mode serves tokens.
const DevTokenPath = "/v1/dev/token"

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
}

// Handler serves the demo page at "/", the client library at
// "/lethe.js" (and its E2EE worker "/lethe-e2ee.js"), the page's script and style, "/config.json" (tells the page
// whether dev mode is on) and, in dev mode, DevTokenPath. Mount it at "/":
// every other path answers 404, and methods other than GET and HEAD 405.
func Handler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DevTokenTTL <= 0 || cfg.DevTokenTTL > MaxDevTokenTTL {
		cfg.DevTokenTTL = MaxDevTokenTTL
	}
	files := map[string]asset{
		"/":         load("index.html", "text/html; charset=utf-8"),
		"/app.js":   load("app.js", "text/javascript; charset=utf-8"),
		"/lethe.js": load("lethe.js", "text/javascript; charset=utf-8"),
		// lethe.js's E2EE worker and frame format (protocol.md 3.13).
		"/lethe-e2ee.js": load("lethe-e2ee.js", "text/javascript; charset=utf-8"),
		"/style.css":     load("style.css", "text/css; charset=utf-8"),
		// The WHEP player (docs/whip.md).
		"/whep.html": load("whep.html", "text/html; charset=utf-8"),
		"/whep.js":   load("whep.js", "text/javascript; charset=utf-8"),
	}
	conf, _ := json.Marshal(struct {
		Dev bool `json:"dev"`
	}{cfg.DevToken != nil})
	files["/config.json"] = asset{body: conf, ctype: "application/json"}
	var dev http.Handler
	if cfg.DevToken != nil {
		dev = &devTokenHandler{mint: cfg.DevToken, ttl: cfg.DevTokenTTL, log: cfg.Logger, now: cfg.Now}
	}
	return &handler{files: files, dev: dev}
}

// Mount registers Handler(cfg) on mux under exact GET patterns, one per
// path it serves ("GET /{$}", "GET /lethe.js", ..., and DevTokenPath in dev
// mode), so that it claims no other path or method: the mux's own 404 and
// 405 answers stay as they were for everything else.
func Mount(mux *http.ServeMux, cfg Config) {
	h := Handler(cfg)
	paths := []string{"/{$}", "/lethe.js", "/lethe-e2ee.js", "/app.js", "/style.css", "/config.json", "/whep.html", "/whep.js"}
	if cfg.DevToken != nil {
		paths = append(paths, DevTokenPath)
	}
	for _, p := range paths {
		mux.Handle("GET "+p, h)
	}
}

func load(name, ctype string) asset {
	// The names are those of the go:embed line above: a missing file
	// fails the build, so ReadFile cannot fail here.
	b, _ := assets.ReadFile(name)
	return asset{body: b, ctype: ctype}
}

type handler struct {
	files map[string]asset
	dev   http.Handler
}

// contentSecurityPolicy lets the page load only its own scripts and
// styles and talk only to its own origin (the signaling WebSocket and the
// dev-token endpoint).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == DevTokenPath && h.dev != nil {
		h.dev.ServeHTTP(w, r)
		return
	}
	a, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	// Camera, microphone and screen capture for this origin only.
	hd.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
