package client

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// layerFrames returns the packets of n frames of one layer; keyAt lists
// the frames that are keyframes (frame 0 always is).
func layerFrames(t testing.TB, layer, n int, keyAt ...int) [][]rtp.Packet {
	t.Helper()
	var w frameRecorder
	s, err := NewVP8Source(&w, SourceOptions{Simulcast: true, Layer: layer, Bitrate: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		for _, k := range keyAt {
			if k == i {
				s.RequestKeyframe()
			}
		}
		w.frames = append(w.frames, nil)
		_ = s.WriteFrame()
	}
	return w.frames
}

type frameRecorder struct{ frames [][]rtp.Packet }

func (r *frameRecorder) WriteRTP(p *rtp.Packet) error {
	q := *p
	q.Payload = append([]byte(nil), p.Payload...)
	i := len(r.frames) - 1
	r.frames[i] = append(r.frames[i], q)
	return nil
}

// forwarder plays an SFU's rewriter: one output SSRC with continuous
// sequence numbers and timestamps, whatever layer the packets come from.
type forwarder struct {
	c        *Checker
	seq      uint16
	ts       uint32
	now      time.Time
	started  bool
	skipSeq  int // sequence numbers to skip before the next packet
	stepBack bool
}

func (f *forwarder) frame(pkts []rtp.Packet, drop ...int) {
	f.now = f.now.Add(33 * time.Millisecond)
	if f.started {
		f.ts += 3000
	}
	f.started = true
	if f.stepBack {
		f.ts -= 6000
		f.stepBack = false
	}
	for i, p := range pkts {
		f.seq += uint16(1 + f.skipSeq)
		f.skipSeq = 0
		skip := false
		for _, d := range drop {
			skip = skip || d == i
		}
		if skip {
			continue
		}
		p.SequenceNumber, p.Timestamp = f.seq, f.ts
		f.c.ObservePacket(&p, f.now)
	}
}

func (f *forwarder) padding() {
	f.seq++
	p := rtp.Packet{Header: rtp.Header{SequenceNumber: f.seq, Timestamp: f.ts, Padding: true}}
	f.c.ObservePacket(&p, f.now)
}

func TestCheckerLayers(t *testing.T) {
	q := layerFrames(t, 0, 40)
	h := layerFrames(t, 1, 40, 10, 20)
	for _, tc := range []struct {
		name string
		run  func(f *forwarder)
		want func(st CheckerStats) bool
	}{
		{"clean switch up on a keyframe and down again", func(f *forwarder) {
			for i := range 10 {
				f.frame(q[i])
			}
			for i := 10; i < 20; i++ {
				f.frame(h[i])
			}
			f.frame(q[20]) // q's frame 20 is no keyframe: a bad switch
		}, func(st CheckerStats) bool {
			return st.LayerSwitches == 2 && st.BadSwitches == 1 && st.Layer == 0 && st.Lost == 0 &&
				st.SeqJumps == 0 && st.SwitchGaps == 0 && st.CompleteFrames == 21 && st.TimestampBackwards == 0
		}},
		{"switch onto a frame that is no keyframe", func(f *forwarder) {
			f.frame(q[0])
			f.frame(h[5])
		}, func(st CheckerStats) bool { return st.LayerSwitches == 1 && st.BadSwitches == 1 && st.Layer == 1 }},
		{"sequence gap at the switch", func(f *forwarder) {
			f.frame(q[0])
			f.skipSeq = 3
			f.frame(h[10])
		}, func(st CheckerStats) bool { return st.SwitchGaps == 1 && st.Lost == 3 && st.BadSwitches == 0 }},
		{"rewriter jump inside a layer", func(f *forwarder) {
			f.frame(q[0])
			f.frame(q[1])
			f.skipSeq = 2
			f.frame(q[2])
		}, func(st CheckerStats) bool { return st.SeqJumps == 1 && st.LayerSwitches == 0 }},
		{"real loss inside a layer is loss, not a jump", func(f *forwarder) {
			f.frame(q[0])
			f.frame(q[1], 0)
			f.frame(q[2])
			f.frame(q[3])
		}, func(st CheckerStats) bool {
			return st.Lost == 1 && st.SeqJumps == 0 && st.CompleteFrames == 3
		}},
		{"padding probes between frames", func(f *forwarder) {
			f.frame(q[0])
			f.padding()
			f.padding()
			f.frame(q[1])
		}, func(st CheckerStats) bool {
			return st.Padding == 2 && st.Lost == 0 && st.SeqJumps == 0 && st.BadMarkers == 0 && st.CompleteFrames == 2
		}},
		{"timestamp going back", func(f *forwarder) {
			f.frame(q[0])
			f.frame(q[1])
			f.stepBack = true
			f.frame(q[2])
		}, func(st CheckerStats) bool { return st.TimestampBackwards == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(CheckerOptions{MimeType: "video/VP8"})
			f := &forwarder{c: c, now: time.Unix(100, 0)}
			tc.run(f)
			c.now = func() time.Time { return f.now }
			if st := c.Stats(); !tc.want(st) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Freezes are gaps between complete frames longer than the threshold,
// counted from FreezeFrom and from the last switch.
func TestCheckerFreezes(t *testing.T) {
	q := layerFrames(t, 0, 60)
	h := layerFrames(t, 1, 60, 30)
	c := NewChecker(CheckerOptions{MimeType: "video/VP8"})
	f := &forwarder{c: c, now: time.Unix(100, 0)}
	c.now = func() time.Time { return f.now }
	for i := range 10 {
		f.frame(q[i])
	}
	f.now = f.now.Add(1500 * time.Millisecond) // a stall
	for i := 10; i < 20; i++ {
		f.frame(q[i])
	}
	st := c.Stats()
	if st.Freezes != 1 || st.FrameGapMax < 1500*time.Millisecond || st.FrameGapMax > 1600*time.Millisecond {
		t.Fatalf("after a stall: %+v", st)
	}
	for i := 30; i < 40; i++ { // switch up, then smooth
		f.frame(h[i])
	}
	st = c.Stats()
	if st.FreezesSinceSwitch != 0 || st.FrameGapSinceSwitch > 100*time.Millisecond || st.Freezes != 1 {
		t.Fatalf("since the switch: %+v", st)
	}
	c.FreezeFrom(f.now)
	if st = c.Stats(); st.Freezes != 0 || st.FrameGapMax > 100*time.Millisecond {
		t.Fatalf("after FreezeFrom: %+v", st)
	}
	f.now = f.now.Add(3 * time.Second) // nothing arrives: the gap under way counts
	if st = c.Stats(); st.Freezes != 1 || st.FreezesSinceSwitch != 1 || st.FrameGapMax < 3*time.Second {
		t.Fatalf("stopped stream: %+v", st)
	}
}

// The checker's per-packet work on a layered track, switches included,
// allocates nothing.
func BenchmarkCheckerLayered(b *testing.B) {
	q := layerFrames(b, 0, 30)
	h := layerFrames(b, 1, 30, 0)
	c := NewChecker(CheckerOptions{MimeType: "video/VP8"})
	f := &forwarder{c: c, now: time.Unix(100, 0)}
	f.frame(q[0])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		src := q
		if i/30%2 == 1 {
			src = h
		}
		f.frame(src[1+i%29])
	}
}
