package client

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func markedPayload(stream, seq uint32, sent time.Time) []byte {
	p := make([]byte, 60)
	_ = PutMarker(p, Marker{StreamID: stream, Seq: seq, SendTime: sent.UnixNano()})
	return p
}

func TestCheckerSequence(t *testing.T) {
	t.Parallel()
	type step struct {
		stream uint32
		seq    uint32
	}
	tests := []struct {
		name  string
		steps []step
		want  CheckerStats // only the counters below are compared
	}{
		{"in order", []step{{1, 10}, {1, 11}, {1, 12}}, CheckerStats{Packets: 3}},
		{"gap", []step{{1, 0}, {1, 1}, {1, 4}, {1, 5}}, CheckerStats{Packets: 4, Lost: 2}},
		{"late fills gap", []step{{1, 0}, {1, 2}, {1, 1}, {1, 3}}, CheckerStats{Packets: 4, Reordered: 1}},
		{"duplicate of highest", []step{{1, 0}, {1, 1}, {1, 1}}, CheckerStats{Packets: 3, Duplicates: 1}},
		{"duplicate of older", []step{{1, 0}, {1, 1}, {1, 2}, {1, 0}}, CheckerStats{Packets: 4, Duplicates: 1}},
		{"late twice", []step{{1, 0}, {1, 2}, {1, 1}, {1, 1}}, CheckerStats{Packets: 4, Reordered: 1, Duplicates: 1}},
		{"before first", []step{{1, 5}, {1, 4}, {1, 6}}, CheckerStats{Packets: 3, Reordered: 1}},
		{"wraparound", []step{{1, ^uint32(0) - 1}, {1, ^uint32(0)}, {1, 0}, {1, 2}}, CheckerStats{Packets: 4, Lost: 1}},
		{"big jump", []step{{1, 0}, {1, 5000}, {1, 5001}}, CheckerStats{Packets: 3, Lost: 4999}},
		{"too old", []step{{1, 0}, {1, 5000}, {1, 3}}, CheckerStats{Packets: 3, Lost: 4999, Reordered: 1}},
		{"two streams", []step{{1, 0}, {2, 100}, {1, 1}, {2, 102}}, CheckerStats{Packets: 4, Lost: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(50, 0)
			c := NewChecker(CheckerOptions{})
			for _, s := range tt.steps {
				c.ObserveAt(0, markedPayload(s.stream, s.seq, now), now)
			}
			got := c.Stats()
			if got.Packets != tt.want.Packets || got.Lost != tt.want.Lost ||
				got.Duplicates != tt.want.Duplicates || got.Reordered != tt.want.Reordered || got.BadMarkers != 0 {
				t.Fatalf("stats %+v\nwant  %+v", got, tt.want)
			}
		})
	}
}

func TestCheckerBadMarkersAndLatency(t *testing.T) {
	t.Parallel()
	base := time.Unix(100, 0)
	c := NewChecker(CheckerOptions{})
	// 100 packets with latencies 1..100 ms.
	for i := range 100 {
		sent := base.Add(time.Duration(i) * time.Second)
		c.ObserveAt(0, markedPayload(9, uint32(i), sent), sent.Add(time.Duration(i+1)*time.Millisecond))
	}
	bad := markedPayload(9, 100, base)
	bad[0] ^= 1
	c.ObserveAt(0, bad, base)
	c.ObserveAt(0, []byte{1, 2, 3}, base)
	st := c.Stats()
	if st.BadMarkers != 2 || st.Packets != 102 || st.Streams != 1 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
	near := func(got, want time.Duration) bool {
		d := got - want
		return d <= want/14 && -d <= want/14 // histogram buckets are ~6% wide
	}
	if !near(st.LatencyP50, 50*time.Millisecond) || !near(st.LatencyP95, 95*time.Millisecond) ||
		!near(st.LatencyP99, 99*time.Millisecond) || st.LatencyMax != 100*time.Millisecond {
		t.Fatalf("latency p50 %v p95 %v p99 %v max %v", st.LatencyP50, st.LatencyP95, st.LatencyP99, st.LatencyMax)
	}
	if st.FirstPacketAt.IsZero() || st.Keyframes != 0 || st.TimeToFirstKeyframe != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	for _, us := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 12345, 1 << 20, 1<<35 + 12345} {
		i := histIndex(us)
		if i < 0 || i >= histBuckets {
			t.Fatalf("%d µs: index %d", us, i)
		}
		v := histValue(i)
		if diff := int64(v) - int64(us); diff > int64(us)/16+1 || -diff > int64(us)/16+1 {
			t.Fatalf("%d µs → bucket %d value %d", us, i, v)
		}
		if i > 0 && histIndex(us) < histIndex(us/2) {
			t.Fatal("index not monotonic")
		}
	}
	if histIndex(1<<62) != histBuckets-1 {
		t.Fatal("overflow bucket")
	}
	var h LatencyHistogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty quantile")
	}
	h.Record(-time.Second) // clock skew counts as zero
	if h.Quantile(1) != 0 || h.total != 1 {
		t.Fatal("negative latency")
	}
}

func TestCheckerKeyframes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mime   string
		newSrc func(RTPWriter, SourceOptions) (*Source, error)
	}{
		{webrtc.MimeTypeVP8, NewVP8Source},
		{webrtc.MimeTypeH264, NewH264Source},
		{webrtc.MimeTypeOpus, NewOpusSource},
	}
	for _, tt := range tests {
		t.Run(tt.mime, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(10, 0)
			clock := func() time.Time { return now }
			c := NewChecker(CheckerOptions{MimeType: tt.mime, Now: clock})
			w := &checkWriter{c: c}
			s, err := tt.newSrc(w, SourceOptions{Bitrate: 1_000_000, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if i == 5 {
					s.RequestKeyframe()
				}
				_ = s.WriteFrame()
				now = now.Add(33 * time.Millisecond)
			}
			st := c.Stats()
			want := s.Stats().Keyframes
			if st.Keyframes != want || st.BadMarkers != 0 || st.Lost != 0 || st.Packets != s.Stats().Packets {
				t.Fatalf("checker %+v, source %+v", st, s.Stats())
			}
			if tt.mime != webrtc.MimeTypeOpus && (want != 2 || st.TimeToFirstKeyframe != 0) {
				t.Fatalf("%d keyframes, first after %v", want, st.TimeToFirstKeyframe)
			}
		})
	}
}

type checkWriter struct{ c *Checker }

func (w *checkWriter) WriteRTP(p *rtp.Packet) error { w.c.Observe(p); return nil }

func TestVP8KeyframeDescriptorExtensions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"plain key", []byte{0x10, 0x50}, true},
		{"plain inter", []byte{0x10, 0x51}, false},
		{"continuation", []byte{0x00, 0x50}, false},
		{"partition 1", []byte{0x11, 0x50}, false},
		{"15-bit picture id", []byte{0x90, 0x80, 0x81, 0x02, 0x50}, true},
		{"7-bit picture id, tl0, tid", []byte{0x90, 0xe0, 0x05, 0x01, 0x20, 0x50}, true},
		{"truncated", []byte{0x90, 0x80}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := isVP8Keyframe(tt.p); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzKeyframeDetect(f *testing.F) {
	f.Add([]byte{0x10, 0x50})
	f.Add([]byte{0x90, 0xff, 0xff})
	f.Add([]byte{0x78, 0x00, 0x02, 0x67})
	f.Add([]byte{0x78, 0xff, 0xff})
	f.Add([]byte{0x7c, 0x85})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = isVP8Keyframe(b)
		_ = isH264Keyframe(b)
		c := NewChecker(CheckerOptions{MimeType: webrtc.MimeTypeH264})
		c.ObserveAt(0, b, time.Unix(0, 0))
		if c.Stats().Packets != 1 {
			t.Fatal("packet not counted")
		}
	})
}

func BenchmarkCheckerObserve(b *testing.B) {
	now := time.Unix(1000, 0)
	c := NewChecker(CheckerOptions{MimeType: webrtc.MimeTypeVP8, Now: func() time.Time { return now }})
	const n = 1024
	pkts := make([]rtp.Packet, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range pkts {
		pl := make([]byte, MaxPayload)
		pl[0] = 0x10
		pl[1] = 0x01
		_ = PutMarker(pl, Marker{StreamID: 5, Seq: uint32(i), SendTime: now.Add(-time.Duration(r.IntN(50)) * time.Millisecond).UnixNano()})
		pkts[i] = rtp.Packet{Header: rtp.Header{Timestamp: uint32(i)}, Payload: pl}
	}
	b.ReportAllocs()
	b.SetBytes(MaxPayload)
	i := 0
	for b.Loop() {
		c.Observe(&pkts[i%n])
		i++
	}
}
