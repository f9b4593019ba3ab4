package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/procfs"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/webrtc/v4"
)

// TokenSource mints a UserSig for a user of the application under test.
type TokenSource interface {
	Token(ctx context.Context, userID string) (app uint32, userSig string, err error)
}

// Config describes a load. Zero values take the defaults noted.
type Config struct {
	URL        string // ws://127.0.0.1:7880/v1/signal
	Tokens     TokenSource
	Rooms      int // default 1
	Publishers int // per room, default 1
	// Anchors per room join as anchors and publish nothing: a room of
	// many who may speak, of whom few do, where every join and leave is
	// announced to every anchor.
	Anchors     int
	Subscribers int // per room, receive only; default 0
	Audio       bool
	Video       bool
	Codec       string // "vp8" (default) or "h264"
	// Transport is how the participants reach the server's media:
	// TransportUDP (the default: everyone direct over UDP), TransportTCP
	// (everyone over ICE-TCP to the server's passive candidates) or
	// TransportRelay (subscribers through the server's TURN relay over
	// TCP only, as a network that blocks UDP leaves them; publishers
	// direct over UDP).
	Transport string
	// VideoBitrate in bit/s (default 1.7 Mbit/s) at FPS frames per second
	// (default 30); AudioBitrate in bit/s (default 32 kbit/s).
	VideoBitrate, FPS, AudioBitrate int
	// Pacing spreads each video frame's packets out at Pacing ×
	// VideoBitrate, as a browser's pacer does (libwebrtc: 2.5, what
	// `lethe loadtest` uses unless told otherwise); 0 sends every frame in
	// one burst.
	Pacing    float64
	RampRate  float64       // participants joining per second, default 20
	Warmup    time.Duration // after the last join, before measuring; default 2s
	Duration  time.Duration // the measured window; default 10s
	FirstRoom uint32        // numeric id of the first room, default 1000
	// ServerPID is the server's process (its workers are found as its
	// children); 0: the server is not on this machine, no CPU figures.
	ServerPID int
	Progress  io.Writer // a live line every second; nil: none
	Logger    *slog.Logger
	// TLSConfig is for a wss:// URL (e.g. a test CA's roots); nil: the
	// system's.
	TLSConfig *tls.Config
	// Simulcast makes publishers send video as the client's three-layer
	// source (client.DefaultSimulcastLayers; VideoBitrate is then unused).
	Simulcast bool
	// Classes are downlink rates in bit/s (0: unlimited) across which each
	// room's subscribers are spread in turn; each subscriber of a class
	// receives through a shaped link of its own at that rate (a client API
	// with a client.Downlink). Empty: one unlimited, unshaped class.
	Classes []int
}

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Rooms, 1)
	def(&c.Publishers, 1)
	def(&c.VideoBitrate, 1_700_000)
	def(&c.FPS, 30)
	def(&c.AudioBitrate, 32_000)
	c.Subscribers = max(c.Subscribers, 0)
	c.Anchors = max(c.Anchors, 0)
	if !c.Audio && !c.Video {
		c.Audio, c.Video = true, true
	}
	if c.Codec == "" {
		c.Codec = "vp8"
	}
	if c.Transport == "" {
		c.Transport = TransportUDP
	}
	if c.RampRate <= 0 {
		c.RampRate = 20
	}
	if c.Warmup <= 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.FirstRoom == 0 {
		c.FirstRoom = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Transports of Config.Transport.
const (
	TransportUDP   = "udp"
	TransportTCP   = "tcp"   // ICE-TCP
	TransportRelay = "relay" // TURN over TCP, subscribers only
)

// Validate reports a load that cannot run.
func (c *Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("loadtest: no server URL")
	case c.Tokens == nil:
		return errors.New("loadtest: no token source")
	case c.Codec != "vp8" && c.Codec != "h264":
		return fmt.Errorf("loadtest: codec %q: want vp8 or h264", c.Codec)
	case c.Transport != TransportUDP && c.Transport != TransportTCP && c.Transport != TransportRelay:
		return fmt.Errorf("loadtest: transport %q: want %s, %s or %s", c.Transport, TransportUDP, TransportTCP, TransportRelay)
	case c.Rooms*c.perRoom() > 2000:
		return errors.New("loadtest: more than 2000 participants in one process")
	case len(c.Classes) > 16:
		return errors.New("loadtest: more than 16 downlink classes")
	}
	for _, r := range c.Classes {
		if r < 0 {
			return fmt.Errorf("loadtest: downlink class %d bit/s: want 0 (unlimited) or more", r)
		}
	}
	return nil
}

// perRoom is the number of participants in each room.
func (c *Config) perRoom() int { return c.Publishers + c.Anchors + c.Subscribers }

// participant is one simulated client.
type participant struct {
	room     uint32
	name     string
	c        *client.Client
	joinTime time.Duration
	joinedAt time.Time
	class    int                      // index into Config.Classes; subscribers only, -1 otherwise
	tracks   []*client.Track          // published
	sim      []*client.SimulcastTrack // published
	events   *eventCount              // what the server sent it besides replies

	mu       sync.Mutex
	checkers []*client.Checker // one per received track
	video    []*client.Checker // those of video tracks
	videoIDs []string          // their track ids, in step
}

// Run drives the load and returns the report. It ends by itself after
// ramp-up, warm-up and the measured window, or earlier when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport := client.TransportUDP // also to the relay: TURN over TCP, relayed over UDP
	if cfg.Transport == TransportTCP {
		transport = client.TransportTCP
	}
	api, err := client.NewAPI(client.APIConfig{Loopback: true, Transport: transport})
	if err != nil {
		return nil, err
	}
	var baseline procfs.Sample
	if cfg.ServerPID > 0 {
		if baseline, err = procfs.SampleTree(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("loadtest: server process: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	r := &runner{cfg: cfg, api: api, transport: transport, downlinks: make([][]*client.Downlink, len(cfg.Classes)), ctx: ctx}
	defer func() {
		cancel() // checkers stop reading first: Close waits for them
		r.closeAll()
	}()
	r.ramp()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r.progress("warm-up")
	if !sleep(ctx, cfg.Warmup) {
		return nil, ctx.Err()
	}

	start := r.snapshot()
	gen0, _ := procfs.CPUSeconds(os.Getpid())
	var cpu0 procfs.Sample
	if cfg.ServerPID > 0 {
		cpu0, _ = procfs.SampleTree(cfg.ServerPID)
	}
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	for end := t0.Add(cfg.Duration); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		case <-tick.C:
			r.progress("measuring")
		}
	}
	tick.Stop()
	window := time.Since(t0)
	end := r.snapshot()
	var gen *GeneratorReport
	if gen1, err := procfs.CPUSeconds(os.Getpid()); err == nil {
		gen = &GeneratorReport{CPUSeconds: gen1 - gen0, Cores: runtime.NumCPU()}
		gen.CPUPercent = 100 * gen.CPUSeconds / window.Seconds()
	}
	var server *ServerReport
	if cfg.ServerPID > 0 {
		cpu1, err := procfs.SampleTree(cfg.ServerPID)
		if err == nil {
			server = serverReport(cfg.ServerPID, baseline, cpu0, cpu1, window, end.total.packets-start.total.packets, r.count())
		}
	}
	if cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress)
	}
	rep := r.report(start, end, window, server)
	rep.Generator = gen
	return rep, nil
}

type runner struct {
	cfg       Config
	api       *webrtc.API
	transport client.Transport
	ctx       context.Context

	mu sync.Mutex
	// downlinks are the shaped links of each class's subscribers, by
	// Config.Classes.
	downlinks [][]*client.Downlink
	parts     []*participant
	errs      []string
	joined    atomic.Int64
	wg        sync.WaitGroup // event readers
}

// eventCount tallies one participant's server events, read as they come
// so that none is dropped for want of a reader.
type eventCount struct {
	total        atomic.Uint64
	participants atomic.Uint64 // participantJoined, participantUpdated, participantLeft
	ended        atomic.Bool   // the server ended the session (bye) before the load did
	endCode      atomic.Int64

	mu     sync.Mutex
	paused map[string]bool // track ids paused for bandwidth now (trackPaused)
}

// isPaused reports whether the server has the track paused for this
// participant's downlink.
func (e *eventCount) isPaused(track string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.paused[track]
}

func (e *eventCount) read(events <-chan client.Event) {
	for ev := range events {
		e.total.Add(1)
		switch ev.Type {
		case signaling.TypeParticipantJoined, signaling.TypeParticipantUpdated, signaling.TypeParticipantLeft:
			e.participants.Add(1)
		case signaling.TypeTrackPaused:
			if tp, ok := ev.Data.(*signaling.TrackPaused); ok {
				e.mu.Lock()
				if e.paused == nil {
					e.paused = make(map[string]bool)
				}
				if tp.Paused {
					e.paused[tp.TrackID] = true
				} else {
					delete(e.paused, tp.TrackID)
				}
				e.mu.Unlock()
			}
		case signaling.TypeBye:
			if b, ok := ev.Data.(*signaling.Bye); ok {
				e.endCode.Store(int64(b.Code))
			}
			e.ended.Store(true)
		}
	}
}

// ramp joins everyone at the configured rate: in each room the
// publishers first, then the anchors, then the subscribers.
func (r *runner) ramp() {
	every := time.Duration(float64(time.Second) / r.cfg.RampRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := range r.cfg.Rooms {
		room := r.cfg.FirstRoom + uint32(i)
		for j := range r.cfg.perRoom() {
			select {
			case <-r.ctx.Done():
				wg.Wait()
				return
			case <-tick.C:
			}
			kind := "s"
			switch {
			case j < r.cfg.Publishers:
				kind = "p"
			case j < r.cfg.Publishers+r.cfg.Anchors:
				kind = "a"
			}
			name := fmt.Sprintf("lt-r%d-%s%d", room, kind, j)
			class := -1
			if kind == "s" && len(r.cfg.Classes) > 0 {
				class = (j - r.cfg.Publishers - r.cfg.Anchors) % len(r.cfg.Classes)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.join(room, name, kind, class); err != nil {
					r.fail(fmt.Sprintf("%s: %v", name, err))
				}
			}()
			if j == r.cfg.Publishers-1 {
				wg.Wait() // a room's publishers are on air before its subscribers come
			}
		}
		r.progress("ramp-up")
	}
	wg.Wait()
}

// join adds one participant: kind "p" publishes, "a" is an anchor that
// publishes nothing, "s" is an audience member.
func (r *runner) join(room uint32, name string, kind string, class int) error {
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	app, sig, err := r.cfg.Tokens.Token(ctx, name)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	t0 := time.Now()
	opts := client.Options{API: r.api, Logger: r.cfg.Logger, TLSConfig: r.cfg.TLSConfig}
	if class >= 0 {
		// A link of its own: the class is the rate of each subscriber's
		// access link, not one link its subscribers share.
		dl := client.NewDownlink(r.cfg.Classes[class])
		if opts.API, err = client.NewAPI(client.APIConfig{Loopback: true, Transport: r.transport, Downlink: dl}); err != nil {
			return err
		}
		r.mu.Lock()
		r.downlinks[class] = append(r.downlinks[class], dl)
		r.mu.Unlock()
	}
	switch {
	case kind == "s" && r.cfg.Transport == TransportRelay:
		opts.ForceRelay, opts.RelayTCP = true, true
	default: // direct paths only: no relay allocation beside what is measured
		opts.NoRelay = true
	}
	c, err := client.Dial(ctx, r.cfg.URL, opts)
	if err != nil {
		return err
	}
	p := &participant{room: room, name: name, c: c, events: &eventCount{}, class: class}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		p.events.read(c.Events())
	}()
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ch := client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
		p.mu.Lock()
		p.checkers = append(p.checkers, ch)
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			p.video, p.videoIDs = append(p.video, ch), append(p.videoIDs, tr.ID())
		}
		p.mu.Unlock()
		_ = ch.Run(r.ctx, tr) // OnTrack handlers run until the track ends
	})
	r.mu.Lock()
	r.parts = append(r.parts, p)
	r.mu.Unlock()
	role := signaling.RoleAnchor
	if kind == "s" {
		role = signaling.RoleAudience
	}
	if _, err := c.Join(ctx, signaling.Join{SDKAppID: app, UserID: name, UserSig: sig, RoomID: room, Role: role}); err != nil {
		return err
	}
	p.joinTime = time.Since(t0)
	p.joinedAt = time.Now()
	r.joined.Add(1)
	if kind != "p" {
		return nil
	}
	var locals []webrtc.TrackLocal
	var sim *client.SimulcastTrack
	if r.cfg.Video && r.cfg.Simulcast {
		mk := client.NewVP8SimulcastTrack
		if r.cfg.Codec == "h264" {
			mk = client.NewH264SimulcastTrack
		}
		sim, err = mk("v-"+name, name, client.SimulcastOptions{Source: client.SourceOptions{FPS: r.cfg.FPS, Pacing: r.cfg.Pacing}})
		if err != nil {
			return err
		}
		p.sim = append(p.sim, sim)
	}
	if r.cfg.Video && !r.cfg.Simulcast {
		mk := client.NewVP8Track
		if r.cfg.Codec == "h264" {
			mk = client.NewH264Track
		}
		v, err := mk("v-"+name, name, client.SourceOptions{Bitrate: r.cfg.VideoBitrate, FPS: r.cfg.FPS, Pacing: r.cfg.Pacing})
		if err != nil {
			return err
		}
		p.tracks = append(p.tracks, v)
		locals = append(locals, v)
	}
	if r.cfg.Audio {
		a, err := client.NewOpusTrack("a-"+name, name, client.SourceOptions{Bitrate: r.cfg.AudioBitrate})
		if err != nil {
			return err
		}
		p.tracks = append(p.tracks, a)
		locals = append(locals, a)
	}
	if sim != nil {
		err = c.PublishSimulcast(ctx, sim, locals...)
	} else {
		err = c.Publish(ctx, locals...)
	}
	if err != nil {
		return err
	}
	for _, t := range p.tracks {
		t.Start(r.ctx)
	}
	for _, t := range p.sim {
		t.Start(r.ctx)
	}
	return nil
}

func (r *runner) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, msg)
	}
}

func (r *runner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.parts)
}

// closeAll stops every source and client.
func (r *runner) closeAll() {
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, t := range p.tracks {
				_ = t.Close()
			}
			for _, t := range p.sim {
				_ = t.Close()
			}
			_ = p.c.Close()
		}()
	}
	wg.Wait()
	r.wg.Wait() // each client's Events is closed by its Close
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
