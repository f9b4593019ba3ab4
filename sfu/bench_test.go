package sfu

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// discardWriter counts what it is given and marks each packet done on wg.
// A subscriber's packets are written by one sender at a time.
type discardWriter struct {
	n  int
	wg *sync.WaitGroup
}

func (w *discardWriter) Write(b []byte) (int, error) { w.n++; w.wg.Done(); return len(b), nil }
func (w *discardWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) {
	w.n++
	w.wg.Done()
	return len(p), nil
}

var _ webrtc.TrackLocalWriter = (*discardWriter)(nil)

// BenchmarkForward measures the whole per-packet path for one published
// video packet and N subscribers: strip the header extension, store in the
// NACK cache, push to each subscriber's queue; then the senders (as many
// as GOMAXPROCS) take the packets, rewrite and write them to a discarding
// writer, and the benchmark waits for the last write before the next
// packet. ns/op is per published packet; ns/forwarded-pkt divides by N.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchForward(b, n) })
	}
}

func benchForward(b *testing.B, n int) {
	s := testSFU(Config{})
	drainQueues(b, s)
	var done sync.WaitGroup
	u := testUpTrack(testParticipant(s, "PA_pub", 1), keyframe.VP8, s.cfg.VideoCache)
	subs := make([]*Participant, n)
	writers := make([]*discardWriter, n)
	for i := range subs {
		subs[i] = testParticipant(s, fmt.Sprintf("PA_%d", i), s.cfg.SubscriberQueue)
		writers[i] = &discardWriter{wg: &done}
		d := testDownTrack(u, subs[i], writers[i], uint32(i+1), 96)
		u.addDown(d)
	}

	// A typical VP8 packet from a browser: one-byte header extensions
	// (abs-send-time, transport-cc) and a 1,100-byte payload.
	tmpl := rtpHeader(false, 96, 0, 0, 0xabcdef)
	tmpl[0] |= 0x10
	tmpl = append(tmpl, 0xbe, 0xde, 0x00, 0x03,
		0x32, 1, 2, 3, 0x51, 0, 7, 0, 0, 0, 0, 0)
	tmpl = append(tmpl, make([]byte, 1100)...)
	copy(tmpl[len(tmpl)-1100:], vp8Delta)

	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := copy(buf, tmpl) // what the track read does
		binary.BigEndian.PutUint16(buf[2:], uint16(i))
		binary.BigEndian.PutUint32(buf[4:], uint32(i/3)*3000)
		done.Add(n)
		u.handle(u.layers[0], buf[:m])
		done.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/forwarded-pkt")
	for i, w := range writers {
		if w.n != b.N {
			b.Fatalf("subscriber %d got %d packets, want %d", i, w.n, b.N)
		}
	}
	if st := s.Stats(); st.DroppedQueueFull+st.DroppedWriteError+st.DroppedNoKeyframe != 0 {
		b.Fatalf("drops: %+v", st)
	}
}
