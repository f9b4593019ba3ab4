package sfu

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/speaker"
	"github.com/pion/webrtc/v4"
)

// BenchmarkAudioReader is the reader path of one Opus packet as a browser
// sends it (audio level, abs-send-time and transport-cc extensions, 80
// bytes of payload) with speaker detection on (the level read and
// observed) and off, to no subscriber (the reader's own work only: strip,
// cache, meter) and to one (a goroutine hand-off included). The
// difference between on and off is the per-packet cost of active
// speakers.
func BenchmarkAudioReader(b *testing.B) {
	for _, subs := range []int{0, 1} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("subscribers=%d/speakers=%v", subs, on), func(b *testing.B) { benchAudioReader(b, subs, on) })
		}
	}
}

func benchAudioReader(b *testing.B, subs int, on bool) {
	s := testSFU(Config{})
	drainQueues(b, s)
	var done sync.WaitGroup
	u := testUpTrack(testParticipant(s, "PA_pub", 1), nil, s.cfg.AudioCache)
	u.kind, u.codec, u.media = "audio", webrtc.MimeTypeOpus, Audio
	if on {
		u.level, u.levelID = speaker.NewTrack(&s.cfg.Speakers), 1
	}
	for i := range subs {
		w := &discardWriter{wg: &done}
		u.addDown(testDownTrack(u, testParticipant(s, fmt.Sprintf("PA_sub%d", i), s.cfg.SubscriberQueue), w, uint32(i+1), 111))
	}
	tmpl := rtpHeader(false, 111, 0, 0, 0xabcdef)
	tmpl[0] |= 0x10
	tmpl = append(tmpl, 0xbe, 0xde, 0x00, 0x03,
		0x10, 0x9e, 0x32, 1, 2, 3, 0x51, 0, 7, 0, 0, 0)
	tmpl = append(tmpl, make([]byte, 80)...)
	buf := make([]byte, 1500)
	clock := newFakeClock() // 20 ms a packet
	s.cfg.Now = clock.Now
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := copy(buf, tmpl)
		binary.BigEndian.PutUint16(buf[2:], uint16(i))
		binary.BigEndian.PutUint32(buf[4:], uint32(i)*960)
		clock.Advance(20 * time.Millisecond)
		done.Add(subs)
		u.handle(u.layers[0], buf[:m])
		done.Wait()
	}
	b.StopTimer()
	if on && b.N > 50 {
		if sp, _ := u.level.State(clock.Now().UnixNano()); !sp {
			b.Fatal("a track at -30 dBov is not speaking")
		}
	}
}

// BenchmarkSpeakersTick is one room's turn of the speakers goroutine:
// 10 participants with an audio track each, 3 of them speaking. Most
// turns find no change; events/op counts the Speakers calls (one per
// participant for each list sent), and the one allocation of a list
// sent shows in B/op.
func BenchmarkSpeakersTick(b *testing.B) {
	s := testSFU(Config{})
	r := newRoom(s, "bench")
	ev := &countEvents{}
	for i := range 10 {
		p := testParticipant(s, fmt.Sprintf("PA_%02d", i), 1)
		p.ev, p.room = ev, r
		r.participants = append(r.participants, p)
		u := testUpTrack(p, nil, 1)
		u.id, u.media, u.level = fmt.Sprintf("TR_%02d", i), Audio, speaker.NewTrack(&s.cfg.Speakers)
		r.tracks[u.id] = u
	}
	now := int64(0)
	feed := func() {
		for i := 0; i < 10; i++ { // 100 ms of packets
			now += 10e6
			for k, u := range r.tracks {
				level := uint8(127)
				if k < "TR_03" {
					level = uint8(20 + (now/int64(s.cfg.Speakers.Interval)+int64(k[4]))%30)
				}
				u.level.Observe(level, now)
			}
		}
	}
	for range 10 {
		feed()
		r.tickSpeakers(now)
	}
	before, n := ev.lists.Load(), 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		feed()
		b.StartTimer()
		r.tickSpeakers(now)
		n++
	}
	b.StopTimer()
	b.ReportMetric(float64(ev.lists.Load()-before)/float64(n), "events/op")
}

// countEvents counts the Speakers calls it gets.
type countEvents struct {
	nullEvents
	lists atomic.Int64
}

func (e *countEvents) Speakers([]Speaker) { e.lists.Add(1) }
