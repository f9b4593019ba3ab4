package verify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"golang.org/x/sys/unix"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/e2ee"
)

// Defaults of Config.
const (
	DefaultDuration        = 20 * time.Second
	DefaultRooms           = 3
	DefaultLowVideoBitrate = 100_000
	DefaultLowAudioBitrate = 32_000
	// VolumeFactor is how much more media the high run carries.
	VolumeFactor = 10
	// MinDuration is the shortest Duration: each volume needs a moment of
	// steady media.
	MinDuration = 2 * time.Second
	MaxDuration = time.Hour

	sampleEvery = 200 * time.Millisecond
	settle      = 1500 * time.Millisecond
)

// Attach names a Lethe that is already running.
type Attach struct {
	PID     int    // the `lethe serve` process
	URL     string // its signaling URL, ws://127.0.0.1:port/v1/signal
	DataDir string // its data dir, for `lethe token`
	AppID   uint32 // the application to join; 0: the default application
}

// Config is one verification.
type Config struct {
	// Exe is the lethe binary: it is run as `serve`, `token` and as the
	// positive control.
	Exe string
	// ControlArgs run Exe as the positive control (RunPositiveControl).
	ControlArgs []string
	// Attach, when set, verifies that server instead of starting one.
	Attach *Attach
	// ServeArgs are extra flags for `lethe serve` (fresh mode).
	ServeArgs []string
	// Duration of media in total, split equally between the two volumes.
	Duration time.Duration
	// Rooms driven at once (each with two publishers), default 3.
	Rooms int
	// LowVideoBitrate and LowAudioBitrate are the low volume's per-track
	// bitrates; the high volume is VolumeFactor times both.
	LowVideoBitrate int
	LowAudioBitrate int
	// AllowPartial runs without the fanotify watcher when not root; the
	// verdict is then at best PARTIAL.
	AllowPartial bool
	// TempDir holds the fresh data dir and the control's files; default
	// the first of os.TempDir() and /var/tmp that is on a disk
	// filesystem. On a memory filesystem write_bytes sees nothing, and the
	// verdict is at best PARTIAL.
	TempDir string
	// E2EE has the participants encrypt their media end to end with a
	// room secret the server never gets (see e2ee.go), and adds the
	// memory scan: no server process may then hold the canary readably,
	// in its packets or anywhere in its memory.
	E2EE bool
	// Version is printed in the report.
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
	Rand    io.Reader // for the canary; default crypto/rand
}

func (c *Config) defaults() error {
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Rooms == 0 {
		c.Rooms = DefaultRooms
	}
	if c.LowVideoBitrate == 0 {
		c.LowVideoBitrate = DefaultLowVideoBitrate
	}
	if c.LowAudioBitrate == 0 {
		c.LowAudioBitrate = DefaultLowAudioBitrate
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
		for _, d := range []string{os.TempDir(), "/var/tmp"} {
			if mem, err := memoryFS(d); err == nil && !mem {
				c.TempDir = d
				break
			}
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	switch {
	case c.Exe == "":
		return fmt.Errorf("%w: no lethe binary", ErrBadConfig)
	case len(c.ControlArgs) == 0:
		return fmt.Errorf("%w: no positive-control command", ErrBadConfig)
	case c.Duration < MinDuration || c.Duration > MaxDuration:
		return fmt.Errorf("%w: duration must be between %s and %s", ErrBadConfig, MinDuration, MaxDuration)
	case c.Rooms < 1 || c.Rooms > 16:
		return fmt.Errorf("%w: rooms must be 1..16", ErrBadConfig)
	case c.LowVideoBitrate < 50_000 || c.LowVideoBitrate*VolumeFactor > 20_000_000:
		return fmt.Errorf("%w: low video bitrate must be 50k..2M", ErrBadConfig)
	// Opus packets must keep room for canary windows around the marker.
	case c.LowAudioBitrate < 24_000 || c.LowAudioBitrate*VolumeFactor > 480_000:
		return fmt.Errorf("%w: low audio bitrate must be 24k..48k", ErrBadConfig)
	}
	if a := c.Attach; a != nil {
		if a.PID < 1 || !strings.HasPrefix(a.URL, "ws://") || a.DataDir == "" {
			return fmt.Errorf("%w: attaching needs the pid, a ws:// URL and the data dir", ErrBadConfig)
		}
	}
	return nil
}

// verifier is one Run in progress.
type verifier struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	m       *Matcher
	canary  Canary
	work    string
	dataDir string
	srv     *server
	api     *webrtc.API
	rep     *Report
	memTemp bool       // the work dir is on tmpfs: write_bytes is blind there
	secret  string     // E2EE: the room secret (never in the report)
	ring    *e2ee.Ring // E2EE: derived from it

	mu         sync.Mutex
	serverPIDs map[int]bool // every server process seen
	workerPIDs map[int]bool
	controls   map[int]string   // control pid -> its leak file
	writable   map[int][]string // pid -> writable regular files seen open
	samples    int
}

// Run performs a verification and returns its report. It returns an
// error only when the verification could not start (configuration, not
// root, no server); failures found afterwards are in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	root := os.Geteuid() == 0
	if !root && !cfg.AllowPartial {
		return nil, ErrNotRoot
	}
	canary, err := NewCanary(cfg.Rand)
	if err != nil {
		return nil, err
	}
	v := &verifier{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, m: NewMatcher(canary), canary: canary,
		serverPIDs: map[int]bool{}, workerPIDs: map[int]bool{}, controls: map[int]string{},
		writable: map[int][]string{},
	}
	v.rep = &Report{
		Version: cfg.Version, Binary: cfg.Exe, Started: v.now(), Duration: cfg.Duration.String(),
		CanaryFingerprint: canary.Fingerprint(), Mode: "fresh", E2EE: cfg.E2EE,
	}
	if cfg.E2EE {
		if v.secret, err = newRoomSecret(); err != nil {
			return nil, err
		}
		if v.ring, err = e2ee.NewRingWith([]byte(v.secret)); err != nil {
			return nil, err
		}
	}
	v.rep.BinarySHA256, _ = fileSHA256(cfg.Exe)
	if cfg.Attach != nil {
		v.rep.Mode = "attach"
	}
	if v.api, err = client.NewLoopbackAPI(); err != nil {
		return nil, err
	}
	if v.work, err = os.MkdirTemp(cfg.TempDir, "lethe-verify-"); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(v.work)
	if mem, err := memoryFS(v.work); err != nil || mem {
		v.memTemp = true
		v.rep.Notef("%s is on a memory filesystem: write_bytes cannot see writes there (pass --temp-dir on a disk)", cfg.TempDir)
	}
	v.dataDir = filepath.Join(v.work, "data")
	if cfg.Attach != nil {
		v.dataDir = cfg.Attach.DataDir
	}
	if abs, err := filepath.Abs(v.dataDir); err == nil {
		v.dataDir = abs
	}
	if mem, err := memoryFS(v.dataDir); cfg.Attach != nil && err == nil && mem {
		v.rep.Notef("the data dir is on a memory filesystem: write_bytes does not count the store's writes")
	}

	var w *Watcher
	if root {
		req := []string{v.work, os.TempDir()}
		if cfg.Attach != nil {
			req = append(req, v.dataDir)
		}
		w, err = StartWatcher(WatchOptions{Required: req, Now: v.now})
		if err != nil {
			return nil, err
		}
		v.log.Info("fanotify watcher started")
	} else {
		v.rep.Notef("not root: the fanotify watcher did not run (--allow-partial)")
	}
	var wlog *WatchLog
	stopWatcher := func() {
		if w != nil && wlog == nil {
			wlog = w.Stop()
		}
	}
	defer func() {
		stopWatcher()
		if wlog != nil {
			wlog.Close()
		}
	}()

	if cfg.Attach != nil {
		v.srv, err = attachServer(cfg.Exe, *cfg.Attach)
	} else {
		v.srv, err = startServer(ctx, cfg.Exe, v.dataDir, cfg.ServeArgs)
	}
	if err != nil {
		return nil, err
	}
	defer v.srv.stop()
	v.rep.Server = ServerInfo{PID: v.srv.pid, URL: v.srv.url, DataDir: v.dataDir}
	v.log.Info("server up", "pid", v.srv.pid)

	sampCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		v.sampleLoop(sampCtx)
	}()

	half := cfg.Duration / 2
	vols := []struct {
		name         string
		video, audio int
	}{
		{"low", cfg.LowVideoBitrate, cfg.LowAudioBitrate},
		{"high", cfg.LowVideoBitrate * VolumeFactor, cfg.LowAudioBitrate * VolumeFactor},
	}
	for _, vol := range vols {
		r := v.runVolume(ctx, vol.name, vol.video, vol.audio, half)
		v.rep.Runs = append(v.rep.Runs, r)
		if r.Err != "" {
			break
		}
	}
	if !v.srv.running() {
		v.rep.Problemf("the server exited during the verification")
	} else if err := v.srv.stop(); err != nil {
		v.rep.Problemf("%s", err)
	}
	stopSampling()
	<-sampled
	stopWatcher()

	v.analyse(wlog)
	v.rep.Finished = v.now()
	return v.rep, nil
}

// pids returns the server processes now: serve and its descendants.
func (v *verifier) pids() []int {
	pids := []int{v.srv.pid}
	ws := compliance.Descendants(v.srv.pid)
	v.mu.Lock()
	v.serverPIDs[v.srv.pid] = true
	for _, p := range ws {
		v.serverPIDs[p] = true
		v.workerPIDs[p] = true
	}
	v.mu.Unlock()
	return append(pids, ws...)
}

func (v *verifier) sampleLoop(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		v.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample records the writable regular files every server process and
// every running control holds open.
func (v *verifier) sample() {
	pids := v.pids()
	v.mu.Lock()
	for p := range v.controls {
		pids = append(pids, p)
	}
	v.mu.Unlock()
	for _, p := range pids {
		files, err := compliance.WritableFiles(p)
		if err != nil {
			continue // gone
		}
		v.mu.Lock()
		for _, f := range files {
			if !slices.Contains(v.writable[p], f) {
				v.writable[p] = append(v.writable[p], f)
			}
		}
		v.mu.Unlock()
	}
	v.mu.Lock()
	v.samples++
	v.mu.Unlock()
}

// runVolume drives one volume of media and measures the server around it.
func (v *verifier) runVolume(ctx context.Context, name string, video, audio int, d time.Duration) VolumeRun {
	r := VolumeRun{Name: name, VideoBitrate: video, AudioBitrate: audio, MediaTime: d.String()}
	v.log.Info("run", "volume", name, "video_bps", video, "audio_bps", audio, "duration", d)
	plans, err := planRooms(ctx, v.srv, v.cfg.Rooms, v.cfg.E2EE)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	ctlUser := randomUser("control")
	ctlTok, err := v.srv.token(ctx, ctlUser)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	ctlDir, err := os.MkdirTemp(v.work, "control-"+name+"-")
	if err != nil {
		r.Err = err.Error()
		return r
	}

	pids := v.pids()
	before := readIOs(pids)
	r.Start = v.now()

	ctl, err := startControl(v.cfg.Exe, v.cfg.ControlArgs, ControlJob{
		URL: v.srv.url, AppID: v.srv.appID, UserID: ctlUser, UserSig: ctlTok, RoomID: plans[0].id, Dir: ctlDir,
		E2EESecret: v.secret,
	})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	v.mu.Lock()
	v.controls[ctl.pid] = ctl.file
	v.mu.Unlock()
	r.Control = &ControlResult{PID: ctl.pid, File: ctl.file}
	defer func() {
		r.Control.Stdout, r.Control.Stderr = ctl.stdout.Bytes(), ctl.stderr.Bytes()
		v.rep.controls = append(v.rep.controls, r.Control)
	}()
	if err := ctl.waitJoined(ctx); err != nil {
		ctl.stop()
		r.Err = err.Error()
		return r
	}

	sess := newSession(v.api, v.m, v.canary.b, video, audio, plans, v.ring)
	if err := sess.start(ctx, v.srv); err != nil {
		r.Media = sess.stop()
		ctl.stop()
		r.Err = err.Error()
		return r
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	ctl.waitLeaked(ctx, controlMinLeak, 10*time.Second)
	v.sample() // the control's file is open now
	if v.cfg.E2EE {
		// While the media flows: every server process, and the control.
		for _, pid := range v.pids() {
			ms := v.m.scanMemory(pid, DefaultMaxMemoryScan)
			ms.Role = compliance.RoleWorker
			if pid == v.srv.pid {
				ms.Role = compliance.RoleControl
			}
			r.Memory = append(r.Memory, ms)
		}
		cm := v.m.scanMemory(ctl.pid, DefaultMaxMemoryScan)
		cm.Role = "positive-control"
		r.Control.MemoryScan = &cm
	}
	if io, err := compliance.ReadIO(ctl.pid); err == nil {
		r.Control.WriteBytes = io.Sub(ctl.ioFrom).WriteBytes
	}
	r.Control.Leaked = ctl.leaked.Load()
	r.Media = sess.stop()
	ctl.stop()
	if ctx.Err() != nil {
		r.Err = ctx.Err().Error()
	}

	select {
	case <-time.After(settle): // let the server finish what the leaves caused
	case <-ctx.Done():
	}
	after := readIOs(v.pids())
	r.End = v.now()
	r.Processes = ioDeltas(v.srv.pid, before, after)
	for _, p := range r.Processes {
		r.ServerWriteBytes += p.Delta.WriteBytes
		r.ServerWChar += p.Delta.WChar
	}
	return r
}

// readIOs reads /proc/<pid>/io of each pid; missing processes are left out.
func readIOs(pids []int) map[int]compliance.IO {
	out := make(map[int]compliance.IO, len(pids))
	for _, p := range pids {
		if io, err := compliance.ReadIO(p); err == nil {
			out[p] = io
		}
	}
	return out
}

// ioDeltas pairs the readings of each process.
func ioDeltas(serve int, before, after map[int]compliance.IO) []ProcIO {
	var pids []int
	for p := range before {
		pids = append(pids, p)
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			pids = append(pids, p)
		}
	}
	slices.Sort(pids)
	out := make([]ProcIO, 0, len(pids))
	for _, p := range pids {
		role := compliance.RoleWorker
		if p == serve {
			role = compliance.RoleControl
		}
		b, hadB := before[p]
		a, hadA := after[p]
		pi := ProcIO{PID: p, Role: role, Before: b, After: a}
		switch {
		case !hadA:
			pi.Note = "exited during the run: its counters are lost"
		case !hadB:
			pi.Note = "started during the run"
			pi.Delta = a
		default:
			pi.Delta = a.Sub(b)
		}
		out = append(out, pi)
	}
	return out
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// memoryFS reports whether dir is on a filesystem kept in memory, whose
// writes write_bytes does not count.
func memoryFS(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, err
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC, nil
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	path = strings.TrimSuffix(path, " (deleted)")
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
