package sfu_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/datamsg"
	"github.com/lethe-rtc/lethe/sfu"
)

type dataRejection struct {
	reason  error
	dropped int
}

func (r *recorder) DataRejected(reason error, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, dataRejection{reason, dropped})
}

var _ sfu.DataEvents = (*recorder)(nil)

func (r *recorder) rejectedFor(reason error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.rejected {
		if errors.Is(x.reason, reason) {
			n += x.dropped
		}
	}
	return n
}

// dataEnd is the test's side of a participant's data channels, on its
// subscriber PeerConnection.
type dataEnd struct {
	t    *testing.T
	ch   [2]*webrtc.DataChannel
	open chan struct{}
	mu   sync.Mutex
	got  [2][]datamsg.Message // by mode; payloads copied
}

// openData creates e's two negotiated data channels, as a client does.
func openData(t *testing.T, e *endpoint) *dataEnd {
	t.Helper()
	d := &dataEnd{t: t, open: make(chan struct{})}
	negotiated, ordered, none := true, false, uint16(0)
	ids := []uint16{sfu.DataReliableID, sfu.DataLossyID}
	inits := []webrtc.DataChannelInit{
		{Negotiated: &negotiated, ID: &ids[0]},
		{Negotiated: &negotiated, ID: &ids[1], Ordered: &ordered, MaxRetransmits: &none},
	}
	labels := []string{sfu.DataReliableLabel, sfu.DataLossyLabel}
	opened := make(chan struct{}, 2)
	for mode := range inits {
		dc, err := e.sub.pc.CreateDataChannel(labels[mode], &inits[mode])
		if err != nil {
			t.Fatal(err)
		}
		d.ch[mode] = dc
		dc.OnOpen(func() { opened <- struct{}{} })
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			var msg datamsg.Message
			if err := datamsg.Parse(m.Data, &msg); err != nil {
				t.Errorf("%s: relayed frame: %v", e.name, err)
				return
			}
			msg.Sender = bytes.Clone(msg.Sender)
			msg.Topic = bytes.Clone(msg.Topic)
			msg.Payload = bytes.Clone(msg.Payload)
			d.mu.Lock()
			d.got[mode] = append(d.got[mode], msg)
			d.mu.Unlock()
		})
	}
	go func() {
		<-opened
		<-opened
		close(d.open)
	}()
	return d
}

func (d *dataEnd) waitOpen() {
	d.t.Helper()
	select {
	case <-d.open:
	case <-time.After(waitLimit):
		d.t.Fatal("data channels did not open")
	}
}

func (d *dataEnd) count(mode int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got[mode])
}

func (d *dataEnd) messages(mode int) []datamsg.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]datamsg.Message(nil), d.got[mode]...)
}

// send frames and sends one message, pacing on the channel's buffer.
func (d *dataEnd) send(mode int, topic string, to []string, payload []byte) {
	d.t.Helper()
	frame, err := datamsg.AppendSend(nil, 0, topic, to, payload)
	if err != nil {
		d.t.Fatal(err)
	}
	d.sendFrame(mode, frame)
}

func (d *dataEnd) sendFrame(mode int, frame []byte) {
	d.t.Helper()
	for d.ch[mode].BufferedAmount() > 256<<10 {
		time.Sleep(time.Millisecond)
	}
	if err := d.ch[mode].Send(frame); err != nil {
		d.t.Fatal(err)
	}
}

// numbered is payload i: its number, a CRC of the rest, and filler up to
// size bytes (at least 8).
func numbered(i, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 8; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:]))
	return b
}

// checkNumbered reports what is wrong with payload b, "" if nothing.
func checkNumbered(b []byte) (int, string) {
	if len(b) < 8 {
		return 0, "short"
	}
	if binary.BigEndian.Uint32(b[4:]) != crc32.ChecksumIEEE(b[8:]) {
		return 0, "corrupt"
	}
	return int(binary.BigEndian.Uint32(b)), ""
}

// sizeOf is the size of message i of a test: mostly small, every 50th at
// the limit.
func sizeOf(i, limit int) int {
	if i%50 == 0 {
		return limit
	}
	return 8 + (i*7919)%1024
}

func TestDataMessages(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const limit = 16384
	s, api, stop := startSFUWith(t, nil, sfu.Config{Data: sfu.DataConfig{MessageRate: -1, ByteRate: -1, RoomByteRate: -1}})
	defer stop()
	cfg := sfu.ParticipantConfig{AutoSubscribe: true, Receive: sfu.AllMedia, Data: true}
	var ends []*endpoint
	var data []*dataEnd
	for _, name := range []string{"a", "b", "c"} {
		e, _ := join(t, s, api, name, cfg)
		defer e.shutdown()
		ends = append(ends, e)
		data = append(data, openData(t, e))
	}
	// One more without data channels: it hears nothing, and costs
	// nothing, of them.
	plain, _ := join(t, s, api, "plain", sfu.ParticipantConfig{AutoSubscribe: true, Receive: sfu.AllMedia})
	defer plain.shutdown()
	for _, d := range data {
		d.waitOpen()
	}
	a, b, c := data[0], data[1], data[2]
	// Every receiver must be in the room's data list: its channel open on
	// the SFU's side too. Probe until each hears one message.
	waitFor(t, "every receiver listed", func() bool {
		a.send(0, "probe", nil, []byte("probe"))
		time.Sleep(20 * time.Millisecond)
		return b.count(0) > 0 && c.count(0) > 0
	})
	base := [2]int{b.count(0), c.count(0)}

	const n = 2000
	for i := 0; i < n; i++ {
		a.send(0, "room", nil, numbered(i, sizeOf(i, limit)))
	}
	waitFor(t, "room messages", func() bool { return b.count(0) == base[0]+n && c.count(0) == base[1]+n })
	for k, d := range []*dataEnd{b, c} {
		for i, m := range d.messages(0)[base[k]:] {
			num, bad := checkNumbered(m.Payload)
			if bad != "" || num != i || len(m.Payload) != max(sizeOf(i, limit), 8) || string(m.Sender) != ends[0].p.ID() ||
				string(m.Topic) != "room" || m.Private() {
				t.Fatalf("receiver %d, message %d: number %d (%s), %d bytes, from %q, private %v", k, i, num, bad, len(m.Payload), m.Sender, m.Private())
			}
		}
	}

	// To b by name: c hears none of it.
	cBefore, bBefore := c.count(0), b.count(0)
	for i := 0; i < 500; i++ {
		a.send(0, "dm", []string{ends[1].p.ID()}, numbered(i, sizeOf(i, limit)))
	}
	waitFor(t, "private messages", func() bool { return b.count(0) == bBefore+500 })
	for i, m := range b.messages(0)[bBefore:] {
		if num, bad := checkNumbered(m.Payload); bad != "" || num != i || !m.Private() {
			t.Fatalf("private message %d: number %d (%s), private %v", i, num, bad, m.Private())
		}
	}

	// Lossy: whatever arrives is whole.
	for i := 0; i < 500; i++ {
		a.send(1, "lossy", nil, numbered(i, 8+i%2000))
	}
	waitFor(t, "some lossy messages", func() bool { return b.count(1) > 0 })
	time.Sleep(200 * time.Millisecond)
	for _, m := range b.messages(1) {
		if num, bad := checkNumbered(m.Payload); bad != "" || num >= 500 {
			t.Fatalf("lossy message: number %d (%s)", num, bad)
		}
	}

	// A publisher joins: every subscriber PeerConnection is renegotiated,
	// and b's ICE is restarted; the SCTP associations stay.
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{Send: sfu.AllMedia})
	defer pub.shutdown()
	video, err := client.NewVP8Track("cam", "stream", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer video.Close()
	pub.publish(api, video)
	video.Start(context.Background())
	waitFor(t, "the track at b", func() bool { return ends[1].onTracks.Load() > 0 })
	if err := ends[1].p.RestartICE(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart offer answered", func() bool {
		return ends[1].ev.with(func(r *recorder) bool { return len(r.offers) > 0 && r.offers[len(r.offers)-1] == restartSignal })
	})
	after := b.count(0)
	for i := 0; i < 100; i++ {
		c.send(0, "after", nil, numbered(i, 100))
	}
	waitFor(t, "messages after renegotiation", func() bool { return b.count(0) == after+100 })
	if c.count(0) != cBefore {
		t.Errorf("c heard %d messages of its own or addressed to b", c.count(0)-cBefore)
	}
	st := s.DataStats()
	if st.Delivered == 0 || st.RejectedMalformed+st.RejectedRate+st.RejectedTooLarge != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestDataLimits(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFUWith(t, nil, sfu.Config{Data: sfu.DataConfig{MaxMessage: 1024, MessageRate: 20, RoomByteRate: -1}})
	defer stop()
	cfg := sfu.ParticipantConfig{AutoSubscribe: true, Receive: sfu.AllMedia, Data: true}
	a, _ := join(t, s, api, "a", cfg)
	defer a.shutdown()
	b, _ := join(t, s, api, "b", cfg)
	defer b.shutdown()
	denied := cfg
	denied.DataDenied = true
	c, _ := join(t, s, api, "c", denied)
	defer c.shutdown()
	da, db, dc := openData(t, a), openData(t, b), openData(t, c)
	for _, d := range []*dataEnd{da, db, dc} {
		d.waitOpen()
	}
	waitFor(t, "b listed", func() bool {
		dc.send(0, "", nil, []byte("x")) // refused, but tells when c's channel is read
		da.send(0, "probe", nil, []byte("probe"))
		time.Sleep(50 * time.Millisecond)
		return db.count(0) > 0 && c.ev.rejectedFor(sfu.ErrDataNotAllowed) > 0
	})
	for _, tc := range []struct {
		name   string
		frame  func() []byte
		reason error
	}{
		{"oversized", func() []byte { f, _ := datamsg.AppendSend(nil, 0, "", nil, make([]byte, 1025)); return f }, sfu.ErrDataTooLarge},
		{"malformed", func() []byte { return []byte{9, 9, 9} }, sfu.ErrDataMalformed},
		{"forged sender", func() []byte { return datamsg.AppendRelay(nil, 0, b.p.ID(), nil, []byte("x")) }, sfu.ErrDataMalformed},
		{"unknown peer", func() []byte { f, _ := datamsg.AppendSend(nil, 0, "", []string{"PA_nobody"}, []byte("x")); return f }, sfu.ErrDataUnknownPeer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			da.sendFrame(0, tc.frame())
			waitFor(t, "the refusal", func() bool { return a.ev.rejectedFor(tc.reason) > 0 })
		})
	}
	// A flood beyond 20 messages a second: refused, counted, told at
	// most once a second.
	was := s.DataStats()
	for i := 0; i < 200; i++ {
		da.send(0, "", nil, []byte(fmt.Sprint(i)))
	}
	waitFor(t, "the rate refusal", func() bool { return a.ev.rejectedFor(sfu.ErrDataRate) > 0 })
	waitFor(t, "the flood read", func() bool {
		st := s.DataStats()
		return st.Received+st.RejectedRate == was.Received+was.RejectedRate+200
	})
	if st := s.DataStats(); st.RejectedRate == 0 || st.Received-was.Received >= 200 {
		t.Errorf("flood of 200 at 20 a second: %d relayed, %d refused", st.Received-was.Received, st.RejectedRate)
	}
	// b still hears a once the bucket refills; c's messages never reach it.
	time.Sleep(1100 * time.Millisecond)
	before := db.count(0)
	da.send(0, "after", nil, []byte("after"))
	waitFor(t, "a message after the flood", func() bool { return db.count(0) > before })
	for _, m := range db.messages(0) {
		if string(m.Sender) == c.p.ID() {
			t.Fatal("a message of c, which may not send, was relayed")
		}
	}
	if b.ev.rejectedFor(sfu.ErrDataRate)+b.ev.rejectedFor(sfu.ErrDataTooLarge) != 0 {
		t.Error("b heard of a's refusals")
	}
}
