package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lethe-rtc/lethe/adminserver"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/internal/ratelog"
	"github.com/lethe-rtc/lethe/internal/readiness"
	"github.com/lethe-rtc/lethe/internal/turnrelay"
	"github.com/lethe-rtc/lethe/openapi"
	"github.com/lethe-rtc/lethe/store"
	"github.com/lethe-rtc/lethe/store/retention"
	"github.com/lethe-rtc/lethe/webhook"
)

type serveConfig struct {
	listen          string
	dataDir         string
	udpHost         string
	udpPort         int
	workers         int
	workerProcs     int
	retention       time.Duration
	batchWrites     bool
	allowUnenforced bool
	allowedOrigins  string
	allowedHosts    string
	hosts           control.Hosts // of allowedHosts and the --listen host, set by validate
	loopback        bool          // the --listen host is loopback, set by validate
	tls             tlsFlags      // HTTPS and WSS (tls.go)
	maxConns        int
	maxConnsPerIP   int
	joinTimeout     time.Duration
	iceFailed       time.Duration
	dtlsTimeout     time.Duration
	trackBitrate    int
	peerBitrate     int
	dataLimits      [4]int // --data-max-message, --data-rate, --data-byte-rate, --data-room-byte-rate
	noBWE           bool
	probeDirs       string
	drainTimeout    time.Duration
	media           mediaFlags   // --public-ip, --ice-* (media.go)
	metrics         metricsFlags // --metrics-* (metrics.go)
	turn            bool
	turnPort        int
	turnTLSPort     int
	turnBitrate     int
	turnAllocations int
}

func (c *serveConfig) validate() error {
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	ip := net.ParseIP(host)
	if host != "" && host != "localhost" && ip == nil {
		return fmt.Errorf("--listen %s: the host must be an IP address (0.0.0.0 and [::] for all), or localhost", c.listen)
	}
	c.loopback = host == "localhost" || (ip != nil && ip.IsLoopback())
	if err := c.tls.validate(c.loopback); err != nil {
		return err
	}
	if c.workers < 1 || c.workers > 64 {
		return errors.New("--workers must be 1..64")
	}
	if c.udpPort < 0 || c.udpPort+c.workers > 65535 {
		return errors.New("--udp-port out of range")
	}
	if c.turn {
		switch {
		case c.turnPort < 0 || c.turnPort+c.workers > 65535:
			return errors.New("--turn-port out of range")
		case c.turnPort > 0 && c.udpPort > 0 && c.turnPort < c.udpPort+c.workers && c.udpPort < c.turnPort+c.workers:
			// Not a conflict for the kernel (UDP and TCP), but worker i's
			// TURN UDP port would be worker j's media port.
			return errors.New("--turn-port overlaps the media ports of --udp-port")
		case c.turnBitrate == 0 || c.turnBitrate < -1 || c.turnBitrate > 1_000_000_000:
			return errors.New("--turn-max-bitrate must be 1..1000000000 bit/s, or -1 for no cap")
		case c.turnAllocations < 1 || c.turnAllocations > 64:
			return errors.New("--turn-allocations must be 1..64")
		case c.turnTLSPort < -1 || c.turnTLSPort+c.workers > 65535:
			return errors.New("--turn-tls-port out of range")
		}
	}
	if c.dtlsTimeout <= 0 {
		return errors.New("--dtls-timeout must be positive")
	}
	for _, b := range []struct {
		flag string
		v    int
	}{{"--max-track-bitrate", c.trackBitrate}, {"--max-participant-bitrate", c.peerBitrate}} {
		if b.v == 0 || b.v < -1 || b.v > 1_000_000_000 {
			return fmt.Errorf("%s must be 1..1000000000 bit/s, or -1 for no cap", b.flag)
		}
	}
	if c.dataLimits[0] < 1 || c.dataLimits[0] > 65536 {
		return errors.New("--data-max-message must be 1..65536 bytes")
	}
	for i, f := range dataFlags[1:] {
		if v := c.dataLimits[i+1]; v == 0 || v < -1 {
			return fmt.Errorf("--%s must be positive, or -1 for no limit", f.name)
		}
	}
	if c.drainTimeout < 0 {
		return errors.New("--drain-timeout must not be negative (0: do not wait)")
	}
	if c.maxConns < 1 || c.maxConnsPerIP < 1 {
		return errors.New("--max-connections and --max-connections-per-ip must be at least 1")
	}
	if err := c.metrics.validate(); err != nil {
		return err
	}
	// The --listen host is always allowed: the name (or address) the
	// server was told to answer to; so are the ACME domains.
	return c.allowHosts(nil)
}

// allowHosts sets hosts to --allowed-hosts, the --listen host (unless it
// is all addresses), the ACME domains and extra.
func (c *serveConfig) allowHosts(extra []string) error {
	names := append(splitList(c.allowedHosts), splitList(c.tls.acmeDomains)...)
	if host, _, err := net.SplitHostPort(c.listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			names = append(names, host)
		}
	}
	var err error
	if c.hosts, err = control.ParseHosts(append(names, extra...)); err != nil {
		return fmt.Errorf("--allowed-hosts: %w", err)
	}
	return nil
}

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serve(ctx, args, os.Environ(), stdout, stderr)
}

// serve is lethe serve with its environment given: LETHE_<FLAG>
// variables set flags (configfile.go).
func serve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlags("serve", "lethe serve [flags]",
		"Runs the control process (signaling, tokens, store, admin API) and spawns its media workers.")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:7880",
		"HTTP(S) and WebSocket address: any IP (0.0.0.0 or [::] for all); beyond loopback it needs TLS or --insecure-http")
	fs.StringVar(&cfg.dataDir, "data-dir", "./lethe-data", "data directory (store, admin key, auditor key)")
	fs.StringVar(&cfg.udpHost, "udp-host", "127.0.0.1", "media host, an IP address: 0.0.0.0 (IPv4) or [::] (both) for every interface; loopback candidates only on a loopback address")
	fs.IntVar(&cfg.udpPort, "udp-port", 7882, "media UDP port of worker 0; worker i uses port+i (0: any free port)")
	fs.IntVar(&cfg.workers, "workers", 1, "number of media worker processes")
	fs.BoolVar(&cfg.turn, "turn", true, "run a TURN relay in each media worker, on UDP and TCP, for clients whose network blocks UDP; it relays to Lethe's own media addresses only")
	fs.IntVar(&cfg.turnPort, "turn-port", 3478, "TURN port (UDP and TCP) of worker 0; worker i uses port+i (0: any free port)")
	fs.IntVar(&cfg.turnTLSPort, "turn-tls-port", 5349, "TURN-over-TLS port of worker 0 (worker i: port+i), with the certificate of --tls-cert, reloaded with it (0: any free port; -1: none)")
	fs.IntVar(&cfg.turnBitrate, "turn-max-bitrate", turnrelay.DefaultMaxBitrate, "bit/s one TURN allocation may relay, both ways together; beyond is dropped (-1: no cap)")
	fs.IntVar(&cfg.turnAllocations, "turn-allocations", turnrelay.DefaultMaxAllocations, "TURN allocations one participant's session may hold")
	fs.DurationVar(&cfg.retention, "retention", store.MaxRetention,
		"how long a terminated application's data is kept before it is purged (1h..168h)")
	fs.BoolVar(&cfg.batchWrites, "batch-writes", true, "workers send media with one sendmmsg per burst")
	fs.IntVar(&cfg.workerProcs, "worker-procs", 1, "CPUs each media worker uses (GOMAXPROCS; 0: all); scale with --workers")
	fs.BoolVar(&cfg.allowUnenforced, "allow-unenforced", false,
		"DEGRADED: run media workers even where the kernel cannot enforce the no-write lock-down")
	fs.StringVar(&cfg.allowedOrigins, "allowed-origins", "", "comma-separated browser origins allowed besides the server's own")
	fs.StringVar(&cfg.allowedHosts, "allowed-hosts", strings.Join(control.DefaultHosts(), ","),
		"comma-separated host names (or IP addresses) the server answers to, in the Host header; ports are not compared; the --listen host is always allowed")
	fs.IntVar(&cfg.maxConns, "max-connections", control.DefaultMaxConnections, "signaling connections at once; more are refused with 503")
	fs.IntVar(&cfg.maxConnsPerIP, "max-connections-per-ip", control.DefaultMaxConnectionsPerIP,
		"signaling connections at once from one remote address; more are refused with 503")
	fs.DurationVar(&cfg.joinTimeout, "join-timeout", 10*time.Second, "time a new connection has to join")
	fs.DurationVar(&cfg.iceFailed, "ice-failed-timeout", 10*time.Second, "drop a participant whose media connection (ICE) has been silent this long, after a 3s grace")
	fs.DurationVar(&cfg.dtlsTimeout, "dtls-timeout", 10*time.Second, "drop a participant whose DTLS handshake is not done this long after its ICE connected")
	fs.IntVar(&cfg.trackBitrate, "max-track-bitrate", 8_000_000, "bit/s of RTP a publisher may send on one track, over 1s; beyond is dropped (-1: no cap)")
	fs.IntVar(&cfg.peerBitrate, "max-participant-bitrate", 20_000_000, "bit/s of RTP a publisher may send on all its tracks, over 1s; beyond is dropped (-1: no cap)")
	for i, f := range dataFlags {
		fs.IntVar(&cfg.dataLimits[i], f.name, f.def, f.usage)
	}
	fs.BoolVar(&cfg.noBWE, "no-bwe", false, "no downlink bandwidth estimation: every subscriber gets the highest simulcast layer its settings allow")
	fs.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second,
		"at SIGTERM or SIGINT, how long participants may stay before they are told to reconnect elsewhere (0: tell them at once); a second signal stops at once")
	fs.StringVar(&cfg.probeDirs, "probe-dir", "",
		"comma-separated directories each worker's self-probe must also fail to write (e.g. a scratch mount)")
	// --- web (issue 6): dev-token endpoint switch ---
	dev := fs.Bool("dev", false, "dev mode: GET /v1/dev/token mints tokens of the default app for loopback clients (never in production)")
	// --- end web ---
	var lk lockdownFlags // compliance lock-down (lockdown.go)
	lk.register(fs.FlagSet)
	cfg.tls.register(fs.FlagSet)     // HTTPS and WSS (tls.go)
	cfg.media.register(fs.FlagSet)   // --public-ip, --ice-* (media.go)
	cfg.metrics.register(fs.FlagSet) // --metrics-* (metrics.go)
	// --- config file (issue 12): every flag above has a key (configfile.go) ---
	cf := registerConfigFlags(fs)
	// --- end config file ---
	if err := fs.parse(args, 0, stdout, stderr); err != nil {
		return err
	}
	if err := cf.load(fs, environ, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return cf.fail(fs, stderr, err)
	}
	if err := cfg.media.resolve(&cfg.udpHost, cfg.udpPort, cfg.workers, isSet(fs.FlagSet)); err != nil {
		return cf.fail(fs, stderr, err)
	}
	// Media on free ports: so is the relay, unless told otherwise.
	set := isSet(fs.FlagSet)
	for name, port := range map[string]*int{"turn-port": &cfg.turnPort, "turn-tls-port": &cfg.turnTLSPort} {
		if cfg.udpPort == 0 && !set(name) {
			*port = 0
		}
	}
	if err := lk.resolve(); err != nil {
		return cf.fail(fs, stderr, err)
	}
	if cf.print {
		return nil // --print-config: printed by load, and valid
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	// Diagnostics a client can repeat at will (refused requests) go through
	// one rate-limited log: a line and a count per kind and minute.
	diag := ratelog.New(log, ratelog.Config{})

	// --- compliance lock-down of the control process (lockdown.go); first
	// thing: on older kernels it re-executes the process (same pid, args) ---
	controlReport, err := lockDownControl(cfg.dataDir, cfg.allowUnenforced, log)
	if err != nil {
		return err
	}
	// ---

	st, info, err := store.Bootstrap(ctx, cfg.dataDir, time.Now(), store.WithRetention(cfg.retention))
	if err != nil {
		return err
	}
	defer st.Close()

	// The certificate and the listener before any worker: a bad pair or a
	// port in use stops serve with nothing started.
	var turnTLS turnCerts // the TURN relays' certificate, for "turns:" (tls.go)
	sigTLS, err := cfg.tls.open(cfg.dataDir, log, turnTLS.load)
	if err != nil {
		return err
	}
	if err := cfg.allowHosts(sigTLS.hostNames()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("serve: --listen: %w", err)
	}
	defer ln.Close()

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("serve: find own binary: %w", err)
	}
	workerArgs := []string{"--ice-failed-timeout", cfg.iceFailed.String(), "--dtls-timeout", cfg.dtlsTimeout.String(),
		"--max-track-bitrate", strconv.Itoa(cfg.trackBitrate), "--max-participant-bitrate", strconv.Itoa(cfg.peerBitrate),
		"--batch-writes=" + strconv.FormatBool(cfg.batchWrites), "--no-bwe=" + strconv.FormatBool(cfg.noBWE)}
	for i, f := range dataFlags {
		workerArgs = append(workerArgs, "--"+f.name, strconv.Itoa(cfg.dataLimits[i]))
	}
	for _, d := range splitList(cfg.probeDirs) {
		workerArgs = append(workerArgs, "--probe-dir", d)
	}
	workerArgs = append(workerArgs, lk.workerArgs(info)...) // compliance lock-down (lockdown.go)
	poolCfg := control.PoolConfig{
		Exe: exe, Workers: cfg.workers, UDPHost: cfg.udpHost, UDPPort: cfg.udpPort,
		AllowUnenforced: cfg.allowUnenforced, Logger: log, Args: workerArgs, Procs: cfg.workerProcs,
		TURNPort: -1, // no relay
	}
	if cfg.turn {
		poolCfg.TURNPort = cfg.turnPort
		poolCfg.Args = append(poolCfg.Args, "--turn-max-bitrate", strconv.Itoa(cfg.turnBitrate),
			"--turn-allocations", strconv.Itoa(cfg.turnAllocations))
		if cfg.turnTLSPort >= 0 {
			poolCfg.TURNCert, poolCfg.TURNTLSPort = turnTLS.first(), cfg.turnTLSPort
		}
	}
	cfg.media.configure(&poolCfg) // media.go
	pool, err := control.StartPool(ctx, poolCfg)
	if err != nil {
		return err
	}
	if poolCfg.TURNCert != nil {
		turnTLS.attach(pool, poolCfg.TURNCert)
	}
	shutdownPool := func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := pool.Close(c); err != nil {
			log.Error("worker shutdown", "err", err.Error())
		}
	}

	// Prometheus metrics (metrics.go): on --metrics-listen, or on
	// --listen behind the admin key.
	mx, err := newServeMetrics(&cfg.metrics, pool, st, attestSource{pool, controlReport, sigTLS.report(cfg.loopback)})
	if err != nil {
		shutdownPool()
		return err
	}
	// Room events go to the apps' webhooks from here, the control
	// process: it holds their keys; the workers have no network but media.
	hooks, err := webhook.New(webhook.Config{Lookup: webhookLookup(st), Logger: log})
	if err != nil {
		shutdownPool()
		return fmt.Errorf("serve: %w", err)
	}
	defer hooks.Close()
	sig := control.NewServer(control.ServerConfig{
		Verifier: &auth.Verifier{Keys: st}, Backend: pool, Logger: log, Diagnostics: diag,
		Limits: appLimits(st), Withdrawals: st, Events: hooks,
		AllowedOrigins: splitList(cfg.allowedOrigins), JoinTimeout: cfg.joinTimeout,
		MaxConnections: cfg.maxConns, MaxConnectionsPerIP: cfg.maxConnsPerIP,
		JoinLatency: mx.ObserveJoin,
	})
	mx.sig.Store(sig)
	var adminMetrics http.Handler // /metrics behind the admin key, unless on its own address
	if cfg.metrics.listen == "" {
		adminMetrics = mx.Handler()
	}
	adminKey, err := os.ReadFile(info.AdminKeyPath)
	if err != nil {
		shutdownPool()
		return fmt.Errorf("serve: admin key: %w", err)
	}
	auditorKey, err := os.ReadFile(info.AuditorKeyPath)
	if err != nil {
		clear(adminKey)
		shutdownPool()
		return fmt.Errorf("serve: auditor key: %w", err)
	}
	adminAPI, err := adminserver.NewHandler(adminserver.Config{
		Store: st, Rooms: adminRooms{sig}, Runtime: control.Runtime{Server: sig, Pool: pool}, Webhooks: hooks,
		AdminKey: adminKey, Logger: log, Refusals: diag,
		Metrics: adminMetrics, Requests: mx.CountRequest,
	})
	// Either key reads the full attestation; it keeps their digests only.
	attestation := compliance.AttestationHandler(attestSource{pool, controlReport, sigTLS.report(cfg.loopback)}, adminKey, auditorKey) // lockdown.go
	clear(adminKey)
	clear(auditorKey)
	if err != nil {
		shutdownPool()
		return err
	}
	// Background upkeep: key rings rotate and destroy keys; the retention
	// sweeper purges terminated applications when they fall due.
	sweeper := &retention.Sweeper{Store: st, Logger: log}
	upkeepCtx, stopUpkeep := context.WithCancel(context.Background())
	var upkeep sync.WaitGroup
	// SIGHUP reloads the certificate files (tls.go).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	upkeep.Add(4)
	go func() {
		defer upkeep.Done()
		sigTLS.run(upkeepCtx, hup, log)
	}()
	go func() {
		defer upkeep.Done()
		maintainKeys(upkeepCtx, st, log)
	}()
	go func() {
		defer upkeep.Done()
		diag.Run(upkeepCtx)
	}()
	go func() {
		defer upkeep.Done()
		if err := sweeper.Run(upkeepCtx); err != nil {
			log.Error("retention sweeper stopped", "err", err.Error())
		}
	}()
	defer func() {
		stopUpkeep()
		upkeep.Wait()
	}()

	mux := http.NewServeMux()
	mux.Handle("GET /v1/signal", sig)
	mux.Handle("/v1/admin/", adminAPI)
	whip := control.NewWHIP(sig, control.HTTPMediaConfig{Path: "/v1/whip"}) // RFC 9725 ingest (docs/whip.md)
	mux.Handle("/v1/whip", whip)
	mux.Handle("/v1/whip/", whip)
	whep := control.NewWHEP(sig, control.HTTPMediaConfig{Path: "/v1/whep"}) // playback of a participant
	mux.Handle("/v1/whep", whep)
	mux.Handle("/v1/whep/", whep)
	mux.Handle("GET "+attestationPath, attestation)
	mux.Handle("GET "+openapi.Path, openapi.Handler()) // describes the API, holds nothing: no key
	if adminMetrics != nil {
		mux.Handle("GET "+adminserver.MetricsPath, adminAPI)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", readiness.NewHandler(readiness.Config{
		Checks: readyChecks(sig, pool, st, sigTLS),
		Failed: func(name string, err error) {
			diag.Log(context.Background(), slog.LevelWarn, "readyz "+name, "not ready", slog.String("check", name), slog.String("err", err.Error()))
		},
	}))
	// --- web (issue 6): demo page, browser client, dev tokens ---
	mountWeb(mux, webConfig{store: st, dev: *dev, logger: log})
	// --- end web ---
	// Every endpoint answers only to the allowed host names (DNS
	// rebinding); over TLS, with HSTS.
	hs := &http.Server{Handler: sigTLS.handler(control.NewHostGuard(cfg.hosts, diag, mux)), ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	metricsAddr := "" // --metrics-listen's, bound
	if cfg.metrics.listen != "" {
		bound, stop, err := serveMetricsListener(cfg.metrics.listen, mx.Handler())
		if err != nil {
			shutdownPool()
			return err
		}
		defer stop()
		metricsAddr = bound
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(sigTLS.listener(ln)) }()

	addr := sigTLS.publicAddr(boundAddr(cfg.listen, ln.Addr()))
	wsScheme, pageScheme := sigTLS.scheme()
	printBanner(stdout, &cfg, wsScheme+"://"+addr, info, pool.Workers())
	sigTLS.printBanner(stdout, boundAddr(cfg.listen, ln.Addr()), cfg.loopback)
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "  metrics:    http://%s/metrics\n", metricsAddr)
	}
	// --- web (issue 6) ---
	printWebBanner(stdout, pageScheme+"://"+addr, *dev)
	// --- end web ---

	now := stopNow(ctx)
	select {
	case <-ctx.Done():
		drain(sig, &cfg, now, log)
	case err = <-served:
		log.Error("http server stopped", "err", err.Error())
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = sig.Shutdown(c)
		cancel()
	}
	// A second signal cuts these waits short; the workers are then killed.
	c, cancel := cutShort(now, 5*time.Second)
	_ = hs.Shutdown(c)
	cancel()
	c, cancel = cutShort(now, 10*time.Second)
	defer cancel()
	if err := pool.Close(c); err != nil {
		log.Error("worker shutdown", "err", err.Error())
	}
	log.Info("stopped")
	return nil
}

// drain runs the drain of a first signal: no new joins, /readyz 503,
// participants stay until their rooms empty or --drain-timeout, then are
// told to reconnect (bye 3003); a second signal (now) ends it at once
// (bye 3002).
func drain(sig *control.Server, cfg *serveConfig, now <-chan struct{}, log *slog.Logger) {
	sig.Drain() // first: /readyz is unready from here on
	log.Info("draining: new joins refused, /readyz unready; participants stay until their rooms empty",
		"drain_timeout", cfg.drainTimeout.String(), "participants", sig.Participants())
	t := time.NewTimer(cfg.drainTimeout)
	defer t.Stop()
	// The 5 s for the connections to take their bye and close run from
	// the end of the drain, not its start: with a drain timeout of 5 s or
	// more they were spent before the byes were sent, serve stopped the
	// workers and exited at once, and a client could lose its bye 3003.
	c, cancel := cutShort(now, cfg.drainTimeout+5*time.Second)
	defer cancel()
	switch end, err := sig.DrainThenEnd(c, t.C, now); {
	case err != nil:
		log.Warn("drain over: "+end.String()+"; not every connection closed in time", "err", err.Error())
	default:
		log.Info("drain over: " + end.String())
	}
}

// cutShort is a context that ends after d, or when now is closed.
func cutShort(now <-chan struct{}, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-now:
			cancel()
		case <-c.Done():
		}
	}()
	return c, cancel
}

// readyChecks are the conditions of /readyz, in the order its body lists
// them.
func readyChecks(sig *control.Server, pool *control.Pool, st *store.Store, certs *signalingTLS) []readiness.Check {
	return []readiness.Check{
		// The served certificate is loaded and within its validity (plain
		// HTTP: always ready).
		{Name: "certificates", Func: func(context.Context) error { return certs.Check(time.Now()) }},
		{Name: "draining", Func: sig.Ready},
		{Name: "workers", Func: func(context.Context) error { return pool.Ready() }},
		// A committed write, at most once a second however often /readyz is asked.
		{Name: "store", Func: readiness.Throttle(func(ctx context.Context) error {
			return st.ProbeWrite(ctx, time.Now().Unix())
		}, time.Second, time.Now)},
	}
}

// printBanner says what serve runs; base is the signaling endpoint's
// scheme and address (ws://127.0.0.1:7880).
func printBanner(w io.Writer, cfg *serveConfig, base string, info store.Info, workers []control.Worker) {
	fmt.Fprintf(w, "Lethe %s — WebRTC SFU, media in memory only\n", version)
	fmt.Fprintf(w, "  signaling:  %s/v1/signal\n", base)
	for _, wk := range workers {
		var r compliance.Report
		state, memory := "lock-down UNKNOWN", ""
		if json.Unmarshal(wk.Report, &r) == nil {
			state = fmt.Sprintf("locked down (Landlock ABI %d, reads and writes no file, %s, not dumpable, core limit 0, %s)",
				r.LandlockABI, workerCreds(r.Privileges), workerMemory(r.Mlock))
			if !r.Enforced {
				state = "!!! lock-down NOT ENFORCED: " + strings.Join(r.Problems, "; ")
			}
			if r.Mlock != nil && !r.Mlock.Locked {
				memory = r.Mlock.Reason
			}
		}
		fmt.Fprintf(w, "  worker %d:   pid %d, %s, %s\n", wk.Index, wk.PID, mediaLine(wk), state)
		if wk.TURNUDP != "" {
			tls := ""
			if wk.TURNTLS != "" {
				tls = ", tls " + wk.TURNTLS
			}
			fmt.Fprintf(w, "  worker %d:   TURN relay udp %s, tcp %s%s (relays to this worker's media address only)\n", wk.Index, wk.TURNUDP, wk.TURNTCP, tls)
		}
		if memory != "" {
			fmt.Fprintf(w, "  !!! WARNING: worker %d's media memory is NOT locked and could be swapped out: %s !!!\n", wk.Index, memory)
		}
	}
	if cfg.allowUnenforced {
		fmt.Fprintln(w, "  !!! WARNING: --allow-unenforced: media workers may run WITHOUT the no-write lock-down. !!!")
	}
	page := "http" + strings.TrimPrefix(base, "ws") // ws:// → http://, wss:// → https://
	fmt.Fprintf(w, "  health:     %s/healthz (alive), %s/readyz (may take participants)\n", page, page)
	fmt.Fprintf(w, "  stop:       SIGTERM or SIGINT drains: no new joins, participants told to reconnect when their rooms empty or after %v; a second signal stops at once\n", cfg.drainTimeout)
	fmt.Fprintf(w, "  data dir:   %s\n", info.DataDir)
	fmt.Fprintf(w, "  admin key:  %s\n", info.AdminKeyPath)
	fmt.Fprintf(w, "  auditor:    %s (a key that reads the full attestation, nothing else)\n", info.AuditorKeyPath)
	if info.DefaultApp.SDKAppID != 0 {
		fmt.Fprintf(w, "  app:        SDKAppID %d (%q)\n", info.DefaultApp.SDKAppID, info.DefaultApp.Name)
		// The binary as it was invoked (./bin/lethe under make run).
		fmt.Fprintf(w, "  mint a token:\n    %s token --data-dir %s --app %d --user alice --ttl 1h\n",
			os.Args[0], cfg.dataDir, info.DefaultApp.SDKAppID)
	}
}

// boundAddr is the --listen host with the port the listener got (Go
// shows 0.0.0.0 as [::]); the listener's own address for an empty host.
func boundAddr(listen string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(listen)
	_, port, err2 := net.SplitHostPort(bound.String())
	if err != nil || err2 != nil || host == "" {
		return bound.String()
	}
	return net.JoinHostPort(host, port)
}

// workerCreds says whom a worker runs as, for the banner.
func workerCreds(p *compliance.PrivilegeReport) string {
	if p == nil {
		return "privileges UNKNOWN"
	}
	caps := "no capability"
	if c := p.Creds.Caps(); c != 0 {
		caps = c.String() + " only"
	}
	return fmt.Sprintf("uid %d gid %d, %s", p.Creds.UIDs[1], p.Creds.GIDs[1], caps)
}

// workerMemory says whether a worker's memory is locked, for the banner.
func workerMemory(m *compliance.MlockReport) string {
	switch {
	case m == nil:
		return "memory not locked (--mlock=false)"
	case m.Locked:
		return "memory locked"
	}
	return "memory NOT locked"
}

// isSet returns whether a flag of fs was given.
func isSet(fs *flag.FlagSet) func(name string) bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return func(name string) bool { return set[name] }
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// appLimits reads an application's per-room rules from the store.
func appLimits(st *store.Store) func(ctx context.Context, app uint32) (control.Limits, error) {
	return func(ctx context.Context, app uint32) (control.Limits, error) {
		a, err := st.App(ctx, app)
		if err != nil {
			return control.Limits{}, err
		}
		return control.Limits{
			MaxParticipants: a.Policy.MaxParticipants, MaxAnchors: a.Policy.MaxAnchors,
			RequirePrivateMapKey: a.Policy.RequirePrivateMapKey, RequireConsent: a.Policy.RequireConsent,
		}, nil
	}
}

// maintainKeys keeps every application's key ring rotated and destroys
// keys no token can still need, and deletes the withdrawals of tokens
// that have expired, until ctx ends.
func maintainKeys(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(store.MaintainEvery / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rep, err := st.MaintainKeys(ctx, now)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("key maintenance failed", "err", err.Error())
			case rep.Created+rep.Destroyed > 0:
				log.Info("key ring maintained", "created", rep.Created, "destroyed", rep.Destroyed)
			}
			n, err := st.PurgeWithdrawals(ctx, now)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("withdrawal sweep failed", "err", err.Error())
			case n > 0:
				log.Info("expired withdrawals deleted", "deleted", n)
			}
		}
	}
}

// dataFlags are the limits of data messages, passed on to the workers
// (sfu.Config, docs/protocol.md 3.12).
var dataFlags = [4]struct {
	name  string
	def   int
	usage string
}{
	{"data-max-message", 16384, "payload bytes of one data message (at most 65536)"},
	{"data-rate", 50, "data messages a participant may send per second (-1: no limit)"},
	{"data-byte-rate", 256 << 10, "payload bytes of data messages a participant may send per second (-1: no limit)"},
	{"data-room-byte-rate", 1 << 20, "payload bytes of data messages a room's participants may send per second together (-1: no limit)"},
}

// defaultDataLimits are the defaults of dataFlags.
func defaultDataLimits() [4]int {
	var out [4]int
	for i, f := range dataFlags {
		out[i] = f.def
	}
	return out
}
