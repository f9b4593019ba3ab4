package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/lethe-rtc/lethe/internal/queue"
	"github.com/lethe-rtc/lethe/internal/rewrite"
	"github.com/lethe-rtc/lethe/internal/rtpcache"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// This file tests the forwarding path below the PeerConnections: header
// stripping, per-subscriber rewriting and the never-blocking hand-off to
// subscriber queues. The structs are built directly with only the fields
// that path reads.

// fakeClock is an injectable Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeWriter is a webrtc.TrackLocalWriter that keeps copies of what it is
// given. WriteFunc, when set, runs first and may fail the write.
type fakeWriter struct {
	WriteFunc func(b []byte) error

	mu   sync.Mutex
	pkts [][]byte
}

var _ webrtc.TrackLocalWriter = (*fakeWriter)(nil)

func (w *fakeWriter) Write(b []byte) (int, error) {
	if w.WriteFunc != nil {
		if err := w.WriteFunc(b); err != nil {
			return 0, err
		}
	}
	w.mu.Lock()
	w.pkts = append(w.pkts, bytes.Clone(b))
	w.mu.Unlock()
	return len(b), nil
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	b, err := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
	if err != nil {
		return 0, err
	}
	return w.Write(b)
}

func (w *fakeWriter) packets() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pkts
}

// testSFU returns an SFU without a socket. Its subscriber queues are
// never drained, so that tests can look into them, unless drainQueues is
// called before the participants are made.
func testSFU(cfg Config) *SFU {
	cfg.setDefaults()
	s := &SFU{cfg: cfg, rooms: make(map[string]*room)}
	s.senders = queue.NewScheduler(1, senderBatch, s.send)
	s.senders.Close()
	return s
}

// drainQueues gives s live senders, stopped when the test ends.
func drainQueues(t testing.TB, s *SFU) {
	s.senders = queue.NewScheduler(s.cfg.Senders, senderBatch, s.send)
	t.Cleanup(s.senders.Close)
}

func testParticipant(s *SFU, id string, queueLen int) *Participant {
	return &Participant{
		id: id, s: s, log: s.cfg.Logger,
		queue:      s.senders.NewQueue(queueLen),
		subscribed: make(map[string]bool),
		down:       make(map[string]*downTrack),
		kickCh:     make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
}

// testUpTrack returns a track owned by owner. Keyframe requests go to
// owner.pub, which must then be set (an unconnected PeerConnection
// will do: its WriteRTCP fails and the failure is ignored).
func testUpTrack(owner *Participant, isKey func([]byte) bool, cacheSize int) *upTrack {
	u := &upTrack{
		id: "TR_test", owner: owner, remote: &webrtc.TrackRemote{},
		kind: "video", codec: webrtc.MimeTypeVP8,
		layers: []*layer{{cache: rtpcache.New(cacheSize)}}, isKey: isKey,
	}
	u.wanted.init(1)
	u.layers[0].remote.Store(u.remote)
	return u
}

// testDownTrack returns a downTrack of u to sub, bound to w.
func testDownTrack(u *upTrack, sub *Participant, w webrtc.TrackLocalWriter, ssrc uint32, pt uint8,
	opts ...rewrite.Option,
) *downTrack {
	d := &downTrack{up: u, sub: sub, rw: rewrite.New(90000, opts...)}
	d.b.Store(&binding{ssrc: ssrc, pt: pt, ws: w})
	d.cur.Store(-1)
	return d
}

// forward hands raw to one subscriber of u, as handle does.
func forward(u *upTrack, d *downTrack, raw []byte) {
	p, _ := queue.NewPacket(raw)
	u.forward(d, p, u.layers[0], u.isKey != nil && u.isKey(raw[12:]))
	p.Release()
}

// ingest feeds one raw packet to u as its reader would.
func ingest(u *upTrack, raw []byte) { u.handle(u.layers[0], raw) }

// rtpHeader returns a fixed 12-byte RTP header.
func rtpHeader(marker bool, pt uint8, seq uint16, ts, ssrc uint32) []byte {
	h := make([]byte, 12)
	h[0] = 0x80
	h[1] = pt & 0x7f
	if marker {
		h[1] |= 0x80
	}
	binary.BigEndian.PutUint16(h[2:], seq)
	binary.BigEndian.PutUint32(h[4:], ts)
	binary.BigEndian.PutUint32(h[8:], ssrc)
	return h
}

// vp8Key and vp8Delta are minimal VP8 payloads (descriptor + frame tag).
var (
	vp8Key   = []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	vp8Delta = []byte{0x10, 0x01, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44}
)

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestStripExtensions(t *testing.T) {
	t.Parallel()
	payload := []byte("payload bytes here")
	hdr := rtpHeader(true, 96, 0x1234, 0xdeadbeef, 0x01020304)
	with := func(b0 byte) []byte { h := bytes.Clone(hdr); h[0] = b0; return h }
	csrcs := bytes.Repeat([]byte{0xcc, 0xcc, 0xcc, 0xcc}, 2)
	oneByte := []byte{0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00}             // one 1-byte element, padded
	twoByte := []byte{0x10, 0x00, 0x00, 0x02, 0x01, 0x03, 0xa, 0xb, 0xc, 0, 0, 0} // one 2-byte element, padded
	emptyExt := []byte{0xbe, 0xde, 0x00, 0x00}
	pad := []byte{0, 0, 0, 4}

	tests := []struct {
		name    string
		in      []byte
		ok      bool
		payload []byte // what must follow the 12-byte header
		b0      byte   // expected first byte of the output
	}{
		{"plain", concat(hdr, payload), true, payload, 0x80},
		{"header only", bytes.Clone(hdr), true, nil, 0x80},
		{"csrcs", concat(with(0x82), csrcs, payload), true, payload, 0x80},
		{"one-byte extension", concat(with(0x90), oneByte, payload), true, payload, 0x80},
		{"two-byte extension", concat(with(0x90), twoByte, payload), true, payload, 0x80},
		{"empty extension", concat(with(0x90), emptyExt, payload), true, payload, 0x80},
		{"csrcs and extension", concat(with(0x92), csrcs, oneByte, payload), true, payload, 0x80},
		{"padding kept", concat(with(0xa0), payload, pad), true, concat(payload, pad), 0xa0},
		{"padding with extension", concat(with(0xb0), oneByte, payload, pad), true, concat(payload, pad), 0xa0},
		{"padding only", concat(with(0xa0), pad), true, pad, 0xa0},

		{"empty", nil, false, nil, 0},
		{"short", hdr[:11], false, nil, 0},
		{"version 0", concat(with(0x00), payload), false, nil, 0},
		{"version 1", concat(with(0x40), payload), false, nil, 0},
		{"version 3", concat(with(0xc0), payload), false, nil, 0},
		{"csrcs truncated", concat(with(0x8f), csrcs), false, nil, 0},
		{"extension header truncated", concat(with(0x90), []byte{0xbe, 0xde, 0x00}), false, nil, 0},
		{"extension body truncated", concat(with(0x90), []byte{0xbe, 0xde, 0x00, 0x02, 1, 2, 3, 4}), false, nil, 0},
		{"extension length hostile", concat(with(0x90), []byte{0xbe, 0xde, 0xff, 0xff}, payload), false, nil, 0},
		{"extension after csrcs truncated", concat(with(0x91), csrcs[:4], []byte{0xbe, 0xde}), false, nil, 0},
		{"padding without bytes", with(0xa0), false, nil, 0},
		{"padding count too big", concat(with(0xa0), []byte{1, 2, 3, 9}), false, nil, 0},
		{"padding count zero", concat(with(0xa0), []byte{1, 2, 3, 0}), false, nil, 0},
		{"padding count eats extension", concat(with(0xb0), oneByte, []byte{0, 12}), false, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := bytes.Clone(tt.in)
			out, ok := stripExtensions(in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				if out != nil {
					t.Errorf("out = %x, want nil", out)
				}
				return
			}
			if len(out) < 12 {
				t.Fatalf("len(out) = %d", len(out))
			}
			if out[0] != tt.b0 {
				t.Errorf("out[0] = %#x, want %#x", out[0], tt.b0)
			}
			if !bytes.Equal(out[1:12], hdr[1:12]) {
				t.Errorf("header = %x, want %x", out[1:12], hdr[1:12])
			}
			if !bytes.Equal(out[12:], tt.payload) {
				t.Errorf("payload = %x, want %x", out[12:], tt.payload)
			}
			if &out[len(out)-1] != &in[len(in)-1] {
				t.Error("output is not a suffix of the input buffer")
			}
			var p rtp.Packet
			if err := p.Unmarshal(bytes.Clone(out)); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if p.Extension || len(p.CSRC) != 0 || p.SequenceNumber != 0x1234 || p.Timestamp != 0xdeadbeef ||
				p.SSRC != 0x01020304 || !p.Marker || p.PayloadType != 96 {
				t.Errorf("parsed header = %+v", p.Header)
			}
		})
	}
}

func FuzzStripExtensions(f *testing.F) {
	hdr := rtpHeader(false, 96, 1, 2, 3)
	with := func(b0 byte) []byte { h := bytes.Clone(hdr); h[0] = b0; return h }
	f.Add(concat(hdr, []byte("abc")))
	f.Add(concat(with(0x92), make([]byte, 8), []byte{0xbe, 0xde, 0, 1, 0x10, 1, 0, 0}, []byte("abc")))
	f.Add(concat(with(0x90), []byte{0x10, 0, 0, 1, 1, 1, 9, 0}))
	f.Add(concat(with(0xb0), []byte{0xbe, 0xde, 0, 0}, []byte{0, 0, 3}))
	f.Add(concat(with(0x90), []byte{0xbe, 0xde, 0xff, 0xff}))
	f.Add(concat(with(0xaf), []byte{0, 0xff}))
	f.Add(with(0xa0))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out, ok := stripExtensions(in)
		if !ok {
			return
		}
		// Compute the header length independently.
		h := 12 + 4*int(data[0]&0x0f)
		if data[0]&0x10 != 0 {
			h += 4 + 4*(int(data[h+2])<<8|int(data[h+3]))
		}
		if len(out) != len(data)-(h-12) {
			t.Fatalf("len(out) = %d, want %d", len(out), len(data)-(h-12))
		}
		if len(out) > 0 && &out[len(out)-1] != &in[len(in)-1] {
			t.Fatal("output is not a suffix of the input buffer")
		}
		if out[0] != data[0]&0xe0 || !bytes.Equal(out[1:12], data[1:12]) {
			t.Fatalf("header %x from %x", out[:12], data[:12])
		}
		if !bytes.Equal(out[12:], data[h:]) {
			t.Fatal("payload changed")
		}
		if data[0]&0x20 != 0 {
			if n := int(out[len(out)-1]); n == 0 || n > len(out)-12 || len(out) == 12 {
				t.Fatalf("padding count %d does not fit %d payload bytes", n, len(out)-12)
			}
		}
	})
}

// A padded packet leaves with its padding, and the packet in the queue is
// left as it was for the next subscriber.
func TestDownTrackWritePadding(t *testing.T) {
	t.Parallel()
	s := testSFU(Config{})
	u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
	w := &fakeWriter{}
	d := testDownTrack(u, testParticipant(s, "PA_sub", 8), w, 0x11223344, 100, rewrite.WithStart(1000, 5000))
	in := concat(rtpHeader(true, 96, 7, 90, 0xdeadbeef), []byte{1, 2, 3}, []byte{0, 0, 3})
	in[0] |= 0x20
	orig := bytes.Clone(in)
	if !d.write(in, false, false, time.Now(), &d.hdr, nil) {
		t.Fatal("write failed")
	}
	want := concat(rtpHeader(true, 100, 1000, 5000, 0x11223344), []byte{1, 2, 3}, []byte{0, 0, 3})
	want[0] |= 0x20
	if got := w.packets(); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("sent %x, want %x", got, want)
	}
	if !bytes.Equal(in, orig) {
		t.Fatalf("queued packet changed: %x, was %x", in, orig)
	}
}

func TestDownTrackWrite(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := testSFU(Config{Now: clock.Now})
	sub := testParticipant(s, "PA_sub", 8)
	u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
	w := &fakeWriter{}
	d := testDownTrack(u, sub, w, 0x11223344, 100, rewrite.WithStart(1000, 5000))

	type want struct {
		seq uint16
		ts  uint32
	}
	step := func(name string, seq uint16, ts uint32, marker bool, wantOK bool, wt want) {
		t.Helper()
		pkt := concat(rtpHeader(marker, 96, seq, ts, 0xdeadbeef), []byte{1, 2, 3})
		n := len(w.packets())
		if got := d.write(pkt, d.resume.Swap(false), false, clock.Now(), &d.hdr, nil); got != wantOK {
			t.Fatalf("%s: write = %v, want %v", name, got, wantOK)
		}
		if !wantOK {
			if len(w.packets()) != n {
				t.Fatalf("%s: written anyway", name)
			}
			return
		}
		pkts := w.packets()
		if len(pkts) != n+1 {
			t.Fatalf("%s: %d packets written, want %d", name, len(pkts), n+1)
		}
		var p rtp.Packet
		if err := p.Unmarshal(pkts[n]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.SequenceNumber != wt.seq || p.Timestamp != wt.ts || p.SSRC != 0x11223344 ||
			p.PayloadType != 100 || p.Marker != marker || !bytes.Equal(p.Payload, []byte{1, 2, 3}) {
			t.Errorf("%s: got seq %d ts %d ssrc %#x pt %d marker %v payload %x; want seq %d ts %d",
				name, p.SequenceNumber, p.Timestamp, p.SSRC, p.PayloadType, p.Marker, p.Payload, wt.seq, wt.ts)
		}
	}

	step("first", 50, 3000, false, true, want{1000, 5000})
	clock.Advance(20 * time.Millisecond)
	step("gap kept", 52, 6000, true, true, want{1002, 8000})
	step("late packet", 51, 4500, false, true, want{1001, 6500})
	step("too old for the epoch", 40, 1000, false, false, want{})

	// The publisher pauses and comes back with unrelated numbers: the
	// subscriber sees the next sequence number and time moving on.
	d.restart()
	if d.needKey.Load() {
		t.Error("restart without a keyframe detector set needKey")
	}
	clock.Advance(time.Second)
	step("after restart", 9000, 123456, false, true, want{1003, 8000 + 90000})
	step("after restart, next", 9001, 123456+3000, false, true, want{1004, 8000 + 93000})

	// Unbound: nothing is written.
	b := d.b.Load()
	d.b.Store(nil)
	step("unbound", 9002, 0, false, false, want{})
	d.b.Store(b)

	// A failing write is counted, not retried.
	w.WriteFunc = func([]byte) error { return errors.New("boom") }
	step("write error", 9003, 0, false, false, want{})
	if got := s.stats.droppedWriteError.Load(); got != 1 {
		t.Errorf("droppedWriteError = %d, want 1", got)
	}
	if got := s.stats.packetsOut.Load(); got != 5 {
		t.Errorf("packetsOut = %d, want 5", got)
	}
}

// blockingWriter holds every write until release is closed.
type blockingWriter struct {
	entered chan struct{} // a write has begun
	release chan struct{}
	n       atomic.Int32
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	w.n.Add(1)
	w.entered <- struct{}{}
	<-w.release
	return len(b), nil
}

func (w *blockingWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) { return w.Write(p) }

// TestDownTrackCloseWaitsForWrite: close and Unbind return only once the
// write in progress is done, and nothing is written after: a packet on an
// SSRC the subscriber's last offer no longer declares would reach it as a
// new, undeclared stream.
func TestDownTrackCloseWaitsForWrite(t *testing.T) {
	t.Parallel()
	for _, stop := range []struct {
		name string
		f    func(d *downTrack)
	}{
		{"close", func(d *downTrack) { d.close() }},
		{"Unbind", func(d *downTrack) { _ = d.Unbind(nil) }},
	} {
		t.Run(stop.name, func(t *testing.T) {
			t.Parallel()
			s := testSFU(Config{})
			u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
			w := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
			d := testDownTrack(u, testParticipant(s, "PA_sub", 8), w, 1, 96)
			pkt := concat(rtpHeader(false, 96, 1, 0, 7), []byte{1, 2, 3})
			var hdr rtp.Header
			wrote := make(chan bool)
			go func() { wrote <- d.write(pkt, false, false, time.Now(), &hdr, nil) }()
			<-w.entered
			stopped := make(chan struct{})
			go func() {
				stop.f(d)
				close(stopped)
			}()
			select {
			case <-stopped:
				t.Fatalf("%s returned while a write was in progress", stop.name)
			case <-time.After(50 * time.Millisecond):
			}
			close(w.release)
			if !<-wrote {
				t.Error("the write in progress failed")
			}
			<-stopped
			if d.write(pkt, false, false, time.Now(), &hdr, nil) || w.n.Load() != 1 {
				t.Errorf("written after %s: %d writes", stop.name, w.n.Load())
			}
		})
	}
}

// zeroWriter accepts nothing and says so without an error, as Pion's
// write stream does before SRTP is up.
type zeroWriter struct{}

func (zeroWriter) Write([]byte) (int, error)                 { return 0, nil }
func (zeroWriter) WriteRTP(*rtp.Header, []byte) (int, error) { return 0, nil }

func TestDownTrackWriteNotConnected(t *testing.T) {
	t.Parallel()
	s := testSFU(Config{})
	u := testUpTrack(testParticipant(s, "PA_pub", 1), keyframe.VP8, 16)
	d := testDownTrack(u, testParticipant(s, "PA_sub", 8), zeroWriter{}, 1, 96)
	if d.write(concat(rtpHeader(false, 96, 1, 0, 7), vp8Key), false, false, time.Now(), &d.hdr, nil) {
		t.Error("write to an unconnected stream reported success")
	}
	if st := s.Stats(); st.DroppedNotConnected != 1 || st.PacketsOut != 0 {
		t.Errorf("stats %+v", st)
	}
	if !d.needKey.Load() {
		t.Error("a lost write did not make the subscriber wait for a keyframe")
	}
}

func TestDownTrackRestartWaitsForKeyframe(t *testing.T) {
	t.Parallel()
	s := testSFU(Config{})
	u := testUpTrack(testParticipant(s, "PA_pub", 1), keyframe.VP8, 16)
	d := testDownTrack(u, testParticipant(s, "PA_sub", 8), &fakeWriter{}, 1, 96)
	d.restart()
	if !d.needKey.Load() {
		t.Error("restart of a video track did not wait for a keyframe")
	}
}

// newPub gives owner an unconnected PeerConnection so that keyframe
// requests have somewhere to fail to go.
func newPub(t testing.TB, owner *Participant) {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	owner.pub = pc
}

func TestForward(t *testing.T) {
	t.Parallel()
	pkt := func(seq uint16, payload []byte) []byte {
		return concat(rtpHeader(false, 96, seq, 90*uint32(seq), 7), payload)
	}

	t.Run("not bound", func(t *testing.T) {
		t.Parallel()
		s := testSFU(Config{})
		sub := testParticipant(s, "PA_sub", 4)
		u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
		d := &downTrack{up: u, sub: sub, rw: rewrite.New(90000)}
		forward(u, d, pkt(1, vp8Key))
		if sub.queue.Len() != 0 || s.Stats() != (Stats{}) {
			t.Errorf("queued %d, stats %+v", sub.queue.Len(), s.Stats())
		}
	})

	t.Run("waits for keyframe", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		s := testSFU(Config{Now: clock.Now, PLIInterval: time.Second})
		owner := testParticipant(s, "PA_pub", 1)
		newPub(t, owner)
		sub := testParticipant(s, "PA_sub", 8)
		u := testUpTrack(owner, keyframe.VP8, 16)
		d := testDownTrack(u, sub, &fakeWriter{}, 1, 96)
		d.needKey.Store(true)

		check := func(step string, queued int, noKey, plis uint64) {
			t.Helper()
			st := s.Stats()
			if sub.queue.Len() != queued || st.DroppedNoKeyframe != noKey || st.KeyframeRequests != plis {
				t.Errorf("%s: queued %d, DroppedNoKeyframe %d, KeyframeRequests %d; want %d, %d, %d",
					step, sub.queue.Len(), st.DroppedNoKeyframe, st.KeyframeRequests, queued, noKey, plis)
			}
		}
		forward(u, d, pkt(1, vp8Delta))
		check("first delta", 0, 1, 1)
		forward(u, d, pkt(2, vp8Delta))
		check("second delta, PLI rate-limited", 0, 2, 1)
		clock.Advance(time.Second)
		forward(u, d, pkt(3, vp8Delta))
		check("third delta, a second later", 0, 3, 2)
		forward(u, d, pkt(4, vp8Key))
		check("keyframe", 1, 3, 2)
		forward(u, d, pkt(5, vp8Delta))
		check("delta after keyframe", 2, 3, 2)
		if d.needKey.Load() {
			t.Error("still waiting for a keyframe")
		}
	})

	t.Run("audio needs no keyframe", func(t *testing.T) {
		t.Parallel()
		s := testSFU(Config{})
		sub := testParticipant(s, "PA_sub", 8)
		u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
		d := testDownTrack(u, sub, &fakeWriter{}, 1, 111)
		d.needKey.Store(true)
		forward(u, d, pkt(1, []byte{0xfc, 1, 2}))
		if sub.queue.Len() != 1 || d.needKey.Load() {
			t.Errorf("queued %d, needKey %v", sub.queue.Len(), d.needKey.Load())
		}
	})

	t.Run("full queue", func(t *testing.T) {
		t.Parallel()
		s := testSFU(Config{})
		sub := testParticipant(s, "PA_sub", 2)
		u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
		d := testDownTrack(u, sub, &fakeWriter{}, 1, 96)
		for i := range 5 {
			forward(u, d, pkt(uint16(i), vp8Delta))
		}
		if got := s.Stats().DroppedQueueFull; got != 3 || sub.queue.Len() != 2 {
			t.Errorf("DroppedQueueFull = %d, queued %d; want 3, 2", got, sub.queue.Len())
		}
	})
}

func TestSetMuted(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := testSFU(Config{Now: clock.Now})
	owner := testParticipant(s, "PA_pub", 1)
	newPub(t, owner)
	u := testUpTrack(owner, keyframe.VP8, 16)
	w := &fakeWriter{}
	d := testDownTrack(u, testParticipant(s, "PA_sub", 8), w, 1, 96)
	u.addDown(d)

	if !u.setPaused(&u.muted, true) || u.setPaused(&u.muted, true) {
		t.Fatal("setMuted(true) twice: want a change, then none")
	}
	if !u.info().Muted {
		t.Error("info().Muted = false")
	}
	ingest(u, concat(rtpHeader(false, 96, 1, 0, 7), vp8Key))
	if st := s.Stats(); st.DroppedMuted != 1 || st.PacketsIn != 1 || d.sub.queue.Len() != 0 {
		t.Errorf("muted packet: stats %+v, queued %d", st, d.sub.queue.Len())
	}
	if !u.setPaused(&u.muted, false) || u.setPaused(&u.muted, false) {
		t.Fatal("setMuted(false) twice: want a change, then none")
	}
	if !d.needKey.Load() {
		t.Error("unmute did not make the subscriber wait for a keyframe")
	}
	if got := s.Stats().KeyframeRequests; got != 1 {
		t.Errorf("KeyframeRequests = %d, want 1", got)
	}
}

func TestCopyOnWriteSubscribers(t *testing.T) {
	t.Parallel()
	s := testSFU(Config{})
	u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, 16)
	a := testDownTrack(u, testParticipant(s, "PA_a", 8), &fakeWriter{}, 1, 96)
	b := testDownTrack(u, testParticipant(s, "PA_b", 8), &fakeWriter{}, 2, 96)
	u.addDown(a)
	before := u.downs.Load()
	u.addDown(b)
	u.removeDown(a)
	if len(*before) != 1 || (*before)[0] != a {
		t.Errorf("a reader's snapshot changed: %v", *before)
	}
	if now := *u.downs.Load(); len(now) != 1 || now[0] != b {
		t.Errorf("downs = %v, want [b]", now)
	}
}

// TestSlowSubscriber blocks the write to one subscriber completely: it
// holds one of the two senders, the publisher's reader must go on, the
// other subscriber must get every packet from the other sender, and the
// blocked subscriber's losses are counted as DroppedQueueFull. (Writes
// never block in the server — the socket is non-blocking — but a slow one
// must cost no one else more than a sender.)
func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	const packets = 1000
	s := testSFU(Config{SubscriberQueue: 4, Senders: 2})
	drainQueues(t, s)
	u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, s.cfg.AudioCache)

	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	slowW := &fakeWriter{WriteFunc: func([]byte) error {
		select {
		case blocked <- struct{}{}:
		default:
		}
		<-release
		return nil
	}}
	var fastN atomic.Int64
	fastW := &fakeWriter{WriteFunc: func([]byte) error { fastN.Add(1); return nil }}

	slow := testParticipant(s, "PA_slow", s.cfg.SubscriberQueue)
	fast := testParticipant(s, "PA_fast", s.cfg.SubscriberQueue)
	ds := testDownTrack(u, slow, slowW, 1, 111)
	df := testDownTrack(u, fast, fastW, 2, 111, rewrite.WithStart(0, 0))
	u.addDown(ds)
	u.addDown(df)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		close(release)
		s.senders.Close()
	}
	defer stop()

	ext := []byte{0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00}
	deadline := time.Now().Add(10 * time.Second)
	for i := range packets {
		h := rtpHeader(false, 111, uint16(60000+i), uint32(i)*960, 9)
		h[0] |= 0x10
		ingest(u, concat(h, ext, []byte{0xfc, byte(i), byte(i >> 8)}))
		if i == 0 {
			select {
			case <-blocked:
			case <-time.After(5 * time.Second):
				t.Fatal("slow writer never got a packet")
			}
		}
		// Keep pace with the fast subscriber only, so its tiny queue
		// never overflows; the slow one is never waited for.
		for fastN.Load() < int64(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("fast subscriber stuck at %d of %d packets", fastN.Load(), i+1)
			}
			time.Sleep(10 * time.Microsecond)
		}
	}

	slowPushed := slow.queue.Stats().Pushed
	st := s.Stats()
	if st.PacketsIn != packets {
		t.Errorf("PacketsIn = %d, want %d", st.PacketsIn, packets)
	}
	if slowPushed > uint64(s.cfg.SubscriberQueue)+1 {
		t.Errorf("blocked subscriber accepted %d packets, queue is %d", slowPushed, s.cfg.SubscriberQueue)
	}
	if st.DroppedQueueFull != packets-slowPushed {
		t.Errorf("DroppedQueueFull = %d, want %d", st.DroppedQueueFull, packets-slowPushed)
	}
	if q := fast.queue.Stats(); q.DroppedFull != 0 || q.Pushed != packets {
		t.Errorf("fast subscriber queue: %+v", q)
	}
	stop()
	pkts := fastW.packets()
	if len(pkts) != packets {
		t.Fatalf("fast subscriber got %d packets, want %d", len(pkts), packets)
	}
	for i, b := range pkts {
		if seq := binary.BigEndian.Uint16(b[2:]); seq != uint16(i) || b[0] != 0x80 || len(b) != 15 {
			t.Fatalf("fast packet %d: seq %d, first byte %#x, %d bytes", i, seq, b[0], len(b))
		}
	}
	if n := len(slowW.packets()); uint64(n) > slowPushed {
		t.Errorf("slow subscriber wrote %d packets, more than the %d queued", n, slowPushed)
	}
}
