package sfu

import (
	"errors"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/datamsg"
)

// fakeChannel is a receiver's channel: it counts what it is written and
// reports the send buffer it is told to.
type fakeChannel struct {
	buffered uint64
	frames   int
	last     []byte
	fail     error
}

func (f *fakeChannel) WriteDataChannel(p []byte, _ bool) (int, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	f.frames++
	f.last = append(f.last[:0], p...)
	return len(p), nil
}

func (f *fakeChannel) BufferedAmount() uint64 { return f.buffered }

type rejections struct{ got []error }

func (r *rejections) DataRejected(reason error, _ int) { r.got = append(r.got, reason) }

// dataRoomOf makes a room of n receivers with fake channels and a sender.
func dataRoomOf(n int, lim *dataLimits, rate int) (*dataPeer, []*fakeChannel, *dataCounters, *rejections) {
	room := &dataRoom{bytes: newBucket(-1)}
	counters := &dataCounters{}
	ev := &rejections{}
	sender := &dataPeer{id: "PA_sender", send: true, room: room, lim: lim, counters: counters, ev: ev,
		msgs: newBucket(rate), bytes: newBucket(-1)}
	room.add(sender)
	var chans []*fakeChannel
	for i := 0; i < n; i++ {
		r := &dataPeer{id: "PA_r" + string(rune('a'+i)), room: room, lim: lim, counters: counters}
		c := &fakeChannel{}
		chans = append(chans, c)
		r.out[modeReliable].Store(&dataOut{c})
		room.add(r)
	}
	return sender, chans, counters, ev
}

func TestDataRelaySlowReceiver(t *testing.T) {
	now := time.Unix(1000, 0)
	lim := &dataLimits{maxMessage: 1024, receiverBuffer: 4096, now: func() time.Time { return now }}
	sender, chans, counters, ev := dataRoomOf(3, lim, 2)
	chans[1].buffered = 4096 // slow
	chans[2].fail = errors.New("closing")
	frame, _ := datamsg.AppendSend(nil, datamsg.FlagText, "t", nil, []byte("hello"))
	out := sender.relay(modeReliable, frame, nil)
	st := counters.stats()
	if chans[0].frames != 1 || chans[1].frames != 0 || st.Delivered != 1 || st.DroppedSlow != 1 || st.DroppedWriteError != 1 {
		t.Fatalf("frames %d %d, stats %+v", chans[0].frames, chans[1].frames, st)
	}
	var m datamsg.Message
	if err := datamsg.Parse(chans[0].last, &m); err != nil || string(m.Sender) != "PA_sender" || !m.Text() || string(m.Payload) != "hello" {
		t.Fatalf("relayed %+v (%v)", m, err)
	}
	// Lossy: nobody's lossy channel is open.
	sender.relay(modeLossy, frame, out)
	if st := counters.stats(); st.DroppedNotOpen != 3 {
		t.Fatalf("not open: %+v", st)
	}
	// The bucket of 2 a second is empty now: refused, told once.
	sender.relay(modeReliable, frame, out)
	sender.relay(modeReliable, frame, out)
	if st := counters.stats(); st.RejectedRate != 2 || len(ev.got) != 1 || ev.got[0] != ErrDataRate {
		t.Fatalf("rate: %+v, told %v", st, ev.got)
	}
	now = now.Add(time.Second)
	sender.relay(modeReliable, frame, out)
	if chans[0].frames != 2 {
		t.Fatalf("after a second: %d frames", chans[0].frames)
	}
	// To one receiver by name.
	to, _ := datamsg.AppendSend(nil, 0, "", []string{"PA_ra"}, []byte("dm"))
	sender.relay(modeReliable, to, out)
	if err := datamsg.Parse(chans[0].last, &m); err != nil || !m.Private() || chans[0].frames != 3 {
		t.Fatalf("private: %+v (%v), %d frames", m, err, chans[0].frames)
	}
}

// BenchmarkDataRelay relays one 256-byte message to a room of 10 (the
// SFU's work per message without Pion's SCTP writes).
func BenchmarkDataRelay(b *testing.B) {
	for _, tc := range []struct {
		name string
		to   []string
	}{{"room", nil}, {"named", []string{"PA_rc"}}} {
		b.Run(tc.name, func(b *testing.B) {
			now := time.Unix(1000, 0)
			lim := &dataLimits{maxMessage: 16384, receiverBuffer: 1 << 20, now: func() time.Time { return now }}
			sender, chans, _, _ := dataRoomOf(10, lim, -1)
			frame, _ := datamsg.AppendSend(nil, 0, "chat", tc.to, make([]byte, 256))
			out := make([]byte, 0, 16384+datamsg.MaxHeader)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out = sender.relay(modeReliable, frame, out)
			}
			b.StopTimer()
			if chans[2].frames == 0 {
				b.Fatal("nothing relayed")
			}
		})
	}
}

// FuzzDataRelay: whatever a client sends, the relay neither panics nor
// relays a frame that does not parse, or one naming another sender.
func FuzzDataRelay(f *testing.F) {
	ok, _ := datamsg.AppendSend(nil, datamsg.FlagText, "chat", []string{"PA_ra", "PA_nobody"}, []byte("hi"))
	f.Add(ok)
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte{1, 2, 0, 0, 0})
	f.Add(datamsg.AppendRelay(nil, 0, "PA_ra", nil, []byte("forged")))
	f.Fuzz(func(t *testing.T, frame []byte) {
		now := time.Unix(1000, 0)
		lim := &dataLimits{maxMessage: 64, receiverBuffer: 1 << 20, now: func() time.Time { return now }}
		sender, chans, _, _ := dataRoomOf(2, lim, -1)
		sender.relay(modeReliable, frame, nil)
		for _, c := range chans {
			if c.frames == 0 {
				continue
			}
			var m datamsg.Message
			if err := datamsg.Parse(c.last, &m); err != nil || string(m.Sender) != "PA_sender" || len(m.Payload) > 64 {
				t.Fatalf("relayed %q (%v)", c.last, err)
			}
		}
	})
}
