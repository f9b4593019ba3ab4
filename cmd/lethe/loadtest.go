package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/internal/spawn"
	"github.com/lethe-rtc/lethe/loadtest"
	"github.com/lethe-rtc/lethe/store"
)

type loadtestConfig struct {
	load         loadtest.Config
	media        string
	spawn        bool
	workers      int
	dataDir      string
	adminKeyFile string
	app          uint
	jsonFile     string
	caFile       string
	http         *http.Client // for the admin API; trusts --ca-file
}

func loadtestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg loadtestConfig
	l := &cfg.load
	fs := newFlags("loadtest", "lethe loadtest [flags]",
		"Drives rooms × publishers × subscribers of synthetic participants against a server (--url, or one of\n"+
			"its own with --spawn) and reports join times, loss, NACKs, PLIs, latency and server CPU per packet.")
	fs.StringVar(&l.URL, "url", "ws://127.0.0.1:7880/v1/signal", "signaling URL of the server under test")
	fs.BoolVar(&cfg.spawn, "spawn", false, "start a lethe serve of its own (fresh temp data dir, free loopback ports) and measure it")
	fs.IntVar(&cfg.workers, "workers", 1, "media workers of the spawned server")
	serveFlags := fs.String("serve-flags", "", "more flags for the spawned server, space-separated (e.g. \"--worker-procs 2\")")
	fs.IntVar(&l.Rooms, "rooms", 1, "rooms")
	fs.IntVar(&l.Publishers, "publishers", 1, "publishers per room")
	fs.IntVar(&l.Anchors, "anchors", 0, "anchors per room that publish nothing (every join is announced to each)")
	fs.IntVar(&l.Subscribers, "subscribers", 10, "receive-only participants per room")
	fs.StringVar(&cfg.media, "media", "audio,video", "what publishers send: audio, video or audio,video")
	fs.StringVar(&l.Codec, "codec", "vp8", "video codec: vp8 or h264")
	fs.IntVar(&l.VideoBitrate, "video-bitrate", 1_700_000, "video bitrate per publisher, bit/s")
	fs.IntVar(&l.FPS, "fps", 30, "video frame rate")
	fs.IntVar(&l.AudioBitrate, "audio-bitrate", 32_000, "audio bitrate per publisher, bit/s")
	fs.Float64Var(&l.Pacing, "pacing", 2.5, "spread each video frame's packets at this multiple of the bitrate, like a browser's pacer; 0: send each frame in one burst")
	fs.Float64Var(&l.RampRate, "ramp", 20, "participants joining per second")
	fs.DurationVar(&l.Warmup, "warmup", 2*time.Second, "time after the last join before measuring")
	fs.DurationVar(&l.Duration, "duration", 10*time.Second, "measured window")
	fs.StringVar(&l.Transport, "transport", loadtest.TransportUDP,
		"how participants reach the media: udp (everyone direct), tcp (everyone over ICE-TCP) or relay (subscribers through the server's TURN relay over TCP only)")
	fs.IntVar(&l.ServerPID, "server-pid", 0, "pid of `lethe serve` on this machine, for CPU and memory figures (set by --spawn)")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "mint tokens locally from this data dir")
	fs.StringVar(&cfg.adminKeyFile, "admin-key-file", "", "mint tokens through the admin API with this key")
	fs.UintVar(&cfg.app, "app", 0, "SDKAppID (default: the default app)")
	fs.StringVar(&cfg.jsonFile, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&cfg.caFile, "ca-file", "", "PEM roots to trust for a wss:// --url (and https admin API) instead of the system's, e.g. a test CA")
	fs.BoolVar(&l.Simulcast, "simulcast", false, "publishers send video as 3 simulcast layers (q 150k, h 500k, f 1.5M bit/s; --video-bitrate unused)")
	classes := fs.String("classes", "", "spread each room's subscribers across these downlink rates in turn, comma-separated bit/s with k or m (0: unlimited), e.g. 300k,1m,0; each class receives through a shaped link")
	quiet := fs.Bool("quiet", false, "no live progress line")
	if err := fs.parse(args, 0, stdout, stderr); err != nil {
		return err
	}
	for m := range strings.SplitSeq(cfg.media, ",") {
		switch strings.TrimSpace(m) {
		case "audio":
			l.Audio = true
		case "video":
			l.Video = true
		default:
			return fs.fail(stderr, "--media %q: want audio, video or audio,video", cfg.media)
		}
	}
	if *classes != "" {
		rates, err := parseRates(*classes)
		if err != nil {
			return fs.fail(stderr, "--classes: %v", err)
		}
		l.Classes = rates
	}
	if !*quiet {
		l.Progress = stderr
	}
	tc, err := caFileTLS(cfg.caFile)
	if err != nil {
		return fs.fail(stderr, "--ca-file: %v", err)
	}
	l.TLSConfig, cfg.http = tc, httpClient(tc, 0)
	switch l.Transport {
	case loadtest.TransportUDP, loadtest.TransportTCP, loadtest.TransportRelay:
	default:
		return fs.fail(stderr, "--transport %q: want udp, tcp or relay", l.Transport)
	}
	if u, err := url.Parse(l.URL); err != nil || !loopbackHost(u.Hostname()) {
		return fs.fail(stderr, "--url %s: load tests target loopback servers only", l.URL)
	}

	if cfg.spawn {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		// All participants come from one address: raise the caps to fit
		// them (--serve-flags, later, can still override).
		n := l.Rooms*(l.Publishers+l.Subscribers) + 16
		args := []string{"--workers", strconv.Itoa(cfg.workers),
			"--max-connections", strconv.Itoa(max(n, control.DefaultMaxConnections)),
			"--max-connections-per-ip", strconv.Itoa(max(n, control.DefaultMaxConnectionsPerIP))}
		srv, err := spawn.Start(ctx, exe, "", append(args, strings.Fields(*serveFlags)...)...)
		if err != nil {
			return err
		}
		defer srv.Stop()
		l.URL, l.ServerPID, cfg.dataDir = srv.URL, srv.PID, srv.DataDir
		if cfg.app == 0 {
			cfg.app = uint(srv.AppID)
		}
		fmt.Fprintf(stderr, "spawned lethe serve (pid %d) at %s\n", srv.PID, srv.URL)
	}

	tokens, closeTokens, err := cfg.tokenSource(ctx, l.URL)
	if err != nil {
		return err
	}
	defer closeTokens()
	l.Tokens = tokens

	rep, err := loadtest.Run(ctx, *l)
	if err != nil {
		return err
	}
	rep.WriteText(stdout)
	if cfg.jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("loadtest: %d participant(s) failed", len(rep.Errors))
	}
	return nil
}

// tokenSource picks local minting (--data-dir) or the admin API
// (--admin-key-file).
func (c *loadtestConfig) tokenSource(ctx context.Context, signalURL string) (loadtest.TokenSource, func(), error) {
	switch {
	case c.dataDir != "":
		st, err := store.OpenReadOnly(ctx, filepath.Join(c.dataDir, store.DBFile))
		if err != nil {
			return nil, nil, fmt.Errorf("loadtest: %w", err)
		}
		app := uint32(c.app)
		if app == 0 {
			a, err := st.AppByName(ctx, store.DefaultAppName)
			if err != nil {
				st.Close()
				return nil, nil, fmt.Errorf("loadtest: default app: %w", err)
			}
			app = a.SDKAppID
		}
		a, err := st.App(ctx, app)
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("loadtest: app %d: %w", app, err)
		}
		return &localTokens{st: st, app: app, ttl: min(time.Hour, a.Policy.MaxTokenTTL)}, func() { st.Close() }, nil
	case c.adminKeyFile != "":
		key, err := os.ReadFile(c.adminKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("loadtest: admin key: %w", err)
		}
		u, _ := url.Parse(signalURL)
		u.Scheme, u.Path = strings.Replace(u.Scheme, "ws", "http", 1), ""
		if c.app == 0 {
			return nil, nil, errors.New("loadtest: --app is needed with --admin-key-file")
		}
		return &adminTokens{base: u.String(), key: strings.TrimSpace(string(key)), app: uint32(c.app), http: c.http}, func() {}, nil
	}
	return nil, nil, errors.New("loadtest: tokens need --data-dir, --admin-key-file or --spawn")
}

// localTokens signs JWTs with the app's current key from the store.
type localTokens struct {
	st  *store.Store
	app uint32
	ttl time.Duration

	mu  sync.Mutex
	key auth.Key
}

func (t *localTokens) Token(ctx context.Context, user string) (uint32, string, error) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key.ID == "" || !t.key.ValidAt(now) {
		k, err := t.st.SigningKey(ctx, t.app, now)
		if err != nil {
			return 0, "", err
		}
		t.key = k
	}
	sig, err := auth.SignJWT(t.key, auth.Claims{SDKAppID: t.app, UserID: user, IssuedAt: now, ExpiresAt: now.Add(t.ttl)})
	return t.app, sig, err
}

// adminTokens mints through the admin API, waiting out its rate limit.
type adminTokens struct {
	base, key string
	app       uint32
	http      *http.Client
}

func (t *adminTokens) Token(ctx context.Context, user string) (uint32, string, error) {
	body, _ := json.Marshal(map[string]string{"userId": user, "ttl": "1h"})
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			fmt.Sprintf("%s/v1/admin/apps/%d/usersig", t.base, t.app), bytes.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+t.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.http.Do(req)
		if err != nil {
			return 0, "", err
		}
		var out struct {
			UserSig string `json:"userSig"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return 0, "", ctx.Err()
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			}
			continue
		case resp.StatusCode != http.StatusOK:
			return 0, "", fmt.Errorf("admin API: %s", resp.Status)
		case err != nil:
			return 0, "", fmt.Errorf("admin API: %w", err)
		}
		return t.app, out.UserSig, nil
	}
}

// loopbackHost reports whether h names this machine's loopback interface.
func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// parseRates reads comma-separated bit rates: 300k, 1.5m, 250000, 0.
func parseRates(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		mult := 1.0
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1e3, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "m"):
			mult, f = 1e6, strings.TrimSuffix(f, "m")
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v*mult > 10e9 {
			return nil, fmt.Errorf("rate %q: want bit/s such as 300k, 1m or 0", f)
		}
		out = append(out, int(v*mult))
	}
	return out, nil
}
