package client

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// RTPWriter is where a Source sends its packets; *webrtc.TrackLocalStaticRTP
// is one.
type RTPWriter interface {
	WriteRTP(p *rtp.Packet) error
}

// Ticker paces a Source. *time.Ticker fits through NewTimeTicker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// NewTimeTicker is the default SourceOptions.NewTicker.
func NewTimeTicker(d time.Duration) Ticker { return timeTicker{time.NewTicker(d)} }

type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time { return t.t.C }
func (t timeTicker) Stop()               { t.t.Stop() }

// SourceOptions configure a synthetic source. Zero values take defaults.
type SourceOptions struct {
	// MarkerStream is the stream id written into every marker (not the
	// WebRTC MediaStream id). Zero picks a random non-zero id.
	MarkerStream uint32
	// Bitrate in bits per second: default 300 kbit/s for video, 32 kbit/s
	// for Opus. Keyframes are three times the size of other frames.
	Bitrate int
	// FPS is the video frame rate, default 30. Opus always sends 20 ms frames.
	FPS int
	// Pacing spreads each frame's packets out at Pacing × Bitrate, as a
	// WebRTC sender's pacer does (libwebrtc's default multiplier is 2.5),
	// instead of writing them in one burst; never beyond one frame
	// period. It applies to frames sent by Start; WriteFrame always writes
	// a burst. Zero: no pacing.
	Pacing float64
	// KeyframeInterval forces a keyframe this often; zero sends one only
	// first and when asked (RequestKeyframe, PLI, FIR).
	KeyframeInterval time.Duration
	// Width and Height of the VP8 picture, default 320x240 (H.264 always
	// announces 320x240 in its fixed SPS).
	Width, Height int
	// Now reads the clock for send times; default time.Now.
	Now func() time.Time
	// NewTicker paces Start; default NewTimeTicker.
	NewTicker func(time.Duration) Ticker
	// Fill, when set, is written repeatedly, continuing from payload to
	// payload, over the bytes of every payload that are otherwise zero and
	// that the codec lets carry any value: VP8 token-partition data (the
	// frame header and first partition stay as they are), the body of an
	// H.264 slice after its header (never parameter sets or the filler
	// NAL unit), and Opus padding. The marker follows as usual and its CRC
	// covers the filled bytes. A canary for no-storage checks; at most
	// MaxFill bytes, and for H.264 without two zero bytes in a row (also
	// across its end and start), which could emulate a start code.
	Fill []byte
	// Simulcast marks every packet as layer Layer (0 the lowest) of a
	// simulcast track (see Marker); NewSimulcastTrack sets both.
	Simulcast bool
	Layer     int
	// E2EE, when set, encrypts every frame end to end (protocol.md
	// §3.13) before it is packetized: VP8 and Opus only. Each frame then
	// carries one marker, at the end of its plaintext (see e2ee.go).
	E2EE *e2ee.Encryptor
}

// MaxFill is the longest SourceOptions.Fill.
const MaxFill = 4096

// SourceStats counts what a Source has written.
type SourceStats struct {
	Frames      uint64
	Keyframes   uint64
	Packets     uint64
	Bytes       uint64 // payload bytes
	WriteErrors uint64
	PLIs        uint64 // keyframe requests received (PLI and FIR)
	NACKs       uint64 // sequence numbers the receiver asked for again
	// Skipped counts the frame periods in which the source sent nothing
	// because it was inactive (SetActive; dynacast).
	Skipped uint64
}

// Source writes synthetic frames to an RTPWriter, either one at a time
// (WriteFrame) or paced by its ticker (Start, stopped by Close or the
// context).
type Source struct {
	w           RTPWriter
	p           payloader
	now         func() time.Time
	newTicker   func(time.Duration) Ticker
	period      time.Duration
	pacing      float64 // bit/s while pacing a frame; 0: burst
	frameBytes  int
	keyBytes    int
	tsStep      uint32
	video       bool
	keyInterval time.Duration
	stream      uint32
	fill        []byte
	simulcast   bool
	layer       int
	e2ee        *frameSealer // nil: frames are sent in the clear

	keyReq   atomic.Bool
	inactive atomic.Bool // SetActive(false): frames are skipped
	// levelID is the id negotiated for the audio level extension (0:
	// none, nothing written); level the level written, in -dBov.
	levelID atomic.Uint32
	level   atomic.Uint32
	plis    atomic.Uint64
	nacks   atomic.Uint64

	mu      sync.Mutex // one frame at a time; guards the fields below
	f       frame
	pkt     rtp.Packet
	seq     uint32 // marker sequence
	lastKey time.Time
	phase   int // next index into fill
	levelB  [1]byte

	frames, keyframes, packets, bytes, writeErrors, skipped atomic.Uint64

	life    sync.Mutex // guards started and closed
	started bool
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

type codecKind struct {
	p           payloader
	video       bool
	clock       uint32
	payloadType uint8
	bitrate     int
	codec       e2ee.Codec // 0: no E2EE layout
}

// NewVP8Source returns a VP8 source writing to w.
func NewVP8Source(w RTPWriter, opts SourceOptions) (*Source, error) {
	if opts.Width == 0 {
		opts.Width = 320
	}
	if opts.Height == 0 {
		opts.Height = 240
	}
	if opts.Width < 1 || opts.Width > 0x3fff || opts.Height < 1 || opts.Height > 0x3fff {
		return nil, fmt.Errorf("vp8 source: size %dx%d: %w", opts.Width, opts.Height, ErrBadOption)
	}
	p := vp8Payloader{width: uint16(opts.Width), height: uint16(opts.Height)}
	return newSource(w, opts, codecKind{p: p, video: true, clock: 90000, payloadType: 96, bitrate: 300_000, codec: e2ee.VP8})
}

// NewH264Source returns an H.264 (packetization-mode 1) source writing to w.
func NewH264Source(w RTPWriter, opts SourceOptions) (*Source, error) {
	if zeroRun(opts.Fill) {
		return nil, fmt.Errorf("h264 source: fill with two zero bytes in a row: %w", ErrBadOption)
	}
	return newSource(w, opts, codecKind{p: h264Payloader{}, video: true, clock: 90000, payloadType: 102, bitrate: 300_000})
}

// NewOpusSource returns an Opus source writing one 20 ms packet per tick.
func NewOpusSource(w RTPWriter, opts SourceOptions) (*Source, error) {
	opts.FPS = 50
	return newSource(w, opts, codecKind{p: opusPayloader{}, clock: 48000, payloadType: 111, bitrate: 32_000, codec: e2ee.Opus})
}

func newSource(w RTPWriter, opts SourceOptions, k codecKind) (*Source, error) {
	if opts.FPS == 0 {
		opts.FPS = 30
	}
	if opts.Bitrate == 0 {
		opts.Bitrate = k.bitrate
	}
	if opts.FPS < 1 || opts.FPS > 1000 || opts.Bitrate < 0 || opts.KeyframeInterval < 0 || opts.Pacing < 0 {
		return nil, fmt.Errorf("source: fps %d, bitrate %d: %w", opts.FPS, opts.Bitrate, ErrBadOption)
	}
	if opts.Simulcast && (opts.Layer < 0 || opts.Layer > MaxMarkerLayer) {
		return nil, fmt.Errorf("source: layer %d: %w", opts.Layer, ErrBadOption)
	}
	if len(opts.Fill) > MaxFill {
		return nil, fmt.Errorf("source: fill of %d bytes: %w", len(opts.Fill), ErrBadOption)
	}
	if opts.E2EE != nil && k.codec == 0 {
		return nil, fmt.Errorf("source: e2ee: %w: %w", e2ee.ErrCodec, ErrBadOption)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewTicker == nil {
		opts.NewTicker = NewTimeTicker
	}
	for opts.MarkerStream == 0 {
		opts.MarkerStream = rand.Uint32()
	}
	fb := opts.Bitrate / 8 / opts.FPS
	s := &Source{
		w:           w,
		p:           k.p,
		now:         opts.Now,
		newTicker:   opts.NewTicker,
		period:      time.Second / time.Duration(opts.FPS),
		pacing:      opts.Pacing * float64(opts.Bitrate),
		frameBytes:  fb,
		keyBytes:    3 * fb,
		tsStep:      k.clock / uint32(opts.FPS),
		video:       k.video,
		keyInterval: opts.KeyframeInterval,
		stream:      opts.MarkerStream,
		fill:        bytes.Clone(opts.Fill),
		simulcast:   opts.Simulcast,
		layer:       opts.Layer,
		quit:        make(chan struct{}),
	}
	if opts.E2EE != nil {
		s.e2ee = &frameSealer{enc: opts.E2EE, codec: k.codec}
	}
	s.pkt.Header = rtp.Header{
		Version:        2,
		PayloadType:    k.payloadType,
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		SSRC:           rand.Uint32(),
	}
	s.level.Store(127)
	return s, nil
}

// zeroRun reports whether repeating b gives two zero bytes in a row.
func zeroRun(b []byte) bool {
	for i := range b {
		if b[i] == 0 && b[(i+1)%len(b)] == 0 {
			return true
		}
	}
	return false
}

// MarkerStream returns the stream id in this source's markers.
func (s *Source) MarkerStream() uint32 { return s.stream }

// RequestKeyframe makes the next video frame a keyframe. Safe to call from
// any goroutine; a no-op for audio.
func (s *Source) RequestKeyframe() { s.keyReq.Store(true) }

// SetActive stops (false) or resumes (true) sending, as a browser does
// for an encoding whose RTCRtpSender parameters say active=false: while
// inactive each frame period passes without a packet (the RTP timestamp
// still advances with the clock; sequence numbers do not), and the first
// frame after it is active again is a keyframe. A source starts active.
// Safe to call from any goroutine.
func (s *Source) SetActive(active bool) {
	if was := !s.inactive.Swap(!active); active && !was {
		s.RequestKeyframe()
	}
}

// SetAudioLevel sets the level, in dBov (0 loudest, -127 silence; values
// beyond are clamped), that an audio source writes into every packet's
// RFC 6464 audio level extension once its track has negotiated one
// (Track does this when bound). The synthetic payload does not change:
// only the header says how loud it is. A source starts silent (-127).
// Safe to call from any goroutine; a no-op for video.
func (s *Source) SetAudioLevel(dBov int) { s.level.Store(uint32(min(127, max(0, -dBov)))) }

// setAudioLevelID makes the source write the audio level extension with
// id (1..14, one-byte header); 0 writes none.
func (s *Source) setAudioLevelID(id int) {
	if s.video || id < 0 || id > 14 {
		id = 0
	}
	s.levelID.Store(uint32(id))
}

// Active reports whether the source sends (see SetActive).
func (s *Source) Active() bool { return !s.inactive.Load() }

// WriteFrame builds the next frame and writes its packets in one burst. A
// write error is counted in Stats and the rest of the frame is still
// written; the first error is returned.
func (s *Source) WriteFrame() error { return s.writeFrame(nil) }

// writeFrame writes the next frame; with a pacer, whose channel ends the
// frame early when closed, its packets are spread out at s.pacing.
func (s *Source) writeFrame(stop <-chan struct{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inactive.Load() {
		s.pkt.Timestamp += s.tsStep
		s.skipped.Add(1)
		return nil
	}
	now := s.now()
	req := s.keyReq.Swap(false)
	key := s.video && (s.frames.Load() == 0 || req ||
		(s.keyInterval > 0 && now.Sub(s.lastKey) >= s.keyInterval))
	size := s.frameBytes
	if key {
		size = s.keyBytes
		s.lastKey = now
		s.keyframes.Add(1)
	}
	s.f.reset()
	s.p.build(&s.f, key, size)
	s.f.fill(s.fill, &s.phase)
	var first error
	payloads := s.f.payloads()
	if s.e2ee != nil {
		var err error
		if payloads, err = s.e2ee.seal(&s.f, s.marker()); err != nil {
			s.writeErrors.Add(1)
			return fmt.Errorf("source: %w", err)
		}
		s.seq++
	}
	// A paced frame takes size/rate, but never more than 90% of a frame
	// period, so that a keyframe does not slow the frame rate.
	var spread time.Duration
	frameSize := s.f.size()
	if stop != nil && s.pacing > 0 && len(payloads) > 1 {
		spread = min(time.Duration(float64(8*frameSize)/s.pacing*float64(time.Second)), s.period*9/10)
	}
	for i, payload := range payloads {
		if i > 0 && spread > 0 {
			t := time.NewTimer(spread * time.Duration(len(payloads[i-1])) / time.Duration(frameSize))
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return first
			}
		}
		if s.e2ee == nil {
			_ = PutMarker(payload, s.marker()) // payloads always have room for it
			s.seq++
		}
		s.pkt.Marker = s.video && i == len(payloads)-1
		s.pkt.Payload = payload
		if id := s.levelID.Load(); id != 0 {
			s.levelB[0] = byte(s.level.Load())                    // V (voice) unset: no VAD here
			_ = s.pkt.Header.SetExtension(uint8(id), s.levelB[:]) // one byte under id 14 always fits
		}
		if err := s.w.WriteRTP(&s.pkt); err != nil {
			s.writeErrors.Add(1)
			if first == nil {
				first = fmt.Errorf("source: write rtp: %w", err)
			}
		}
		s.pkt.SequenceNumber++
		s.packets.Add(1)
		s.bytes.Add(uint64(len(payload)))
	}
	s.pkt.Timestamp += s.tsStep
	s.frames.Add(1)
	return first
}

// marker is the next marker, sent now.
func (s *Source) marker() Marker {
	return Marker{StreamID: s.stream, Seq: s.seq, SendTime: s.now().UnixNano(), Simulcast: s.simulcast, Layer: s.layer}
}

// Start writes a frame now and then one per frame period until Close is
// called or ctx ends. Only the first call starts anything.
func (s *Source) Start(ctx context.Context) {
	s.life.Lock()
	defer s.life.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.run(ctx)
}

func (s *Source) run(ctx context.Context) {
	defer s.wg.Done()
	t := s.newTicker(s.period)
	defer t.Stop()
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-s.quit:
		}
		close(stop)
	}()
	for {
		_ = s.writeFrame(stop) // errors are counted in Stats
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case <-t.C():
		}
	}
}

// Close stops the goroutine Start began and waits for it. Idempotent.
func (s *Source) Close() error {
	s.life.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	s.life.Unlock()
	s.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() SourceStats {
	return SourceStats{
		Frames:      s.frames.Load(),
		Keyframes:   s.keyframes.Load(),
		Packets:     s.packets.Load(),
		Bytes:       s.bytes.Load(),
		WriteErrors: s.writeErrors.Load(),
		PLIs:        s.plis.Load(),
		NACKs:       s.nacks.Load(),
		Skipped:     s.skipped.Load(),
	}
}

// HandleRTCP takes the RTCP the source's sender received: PLI and FIR
// make the next frame a keyframe; NACKs are counted (the sender's
// interceptors answer them).
func (s *Source) HandleRTCP(pkts []rtcp.Packet) {
	for _, pk := range pkts {
		switch pk := pk.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			s.plis.Add(1)
			s.RequestKeyframe()
		case *rtcp.TransportLayerNack:
			for _, pair := range pk.Nacks {
				s.nacks.Add(uint64(1 + bits.OnesCount16(uint16(pair.LostPackets))))
			}
		}
	}
}
