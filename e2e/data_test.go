package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/procfs"
	"github.com/lethe-rtc/lethe/signaling"
)

// inbox collects a participant's data messages.
type inbox struct {
	mu  sync.Mutex
	got []client.DataMessage
}

func (b *inbox) add(m client.DataMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, m)
}

func (b *inbox) all() []client.DataMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]client.DataMessage(nil), b.got...)
}

func (b *inbox) count(f func(client.DataMessage) bool) int {
	n := 0
	for _, m := range b.all() {
		if f(m) {
			n++
		}
	}
	return n
}

// joinData joins with data channels open, collecting what arrives.
func joinData(t *testing.T, s *server, user string, room uint32, tokenArgs ...string) (*participant, *inbox) {
	t.Helper()
	p, err := s.tryJoin(t, joinOpts{user: user, room: room, data: true, tokenArgs: tokenArgs})
	if err != nil {
		t.Fatalf("join %s: %v", user, err)
	}
	in := &inbox{}
	p.OnData(in.add)
	if err := p.WaitData(ctxT(t, 15*time.Second)); err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	return p, in
}

// dataPayload is message i of a test: its number, a CRC of the rest, and
// filler to size bytes; every 100th carries canary, which the server's
// output must never show.
func dataPayload(i, size int, canary string) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 8; j < len(b); j++ {
		b[j] = byte(i*31 + j)
	}
	if i%100 == 1 && len(b) >= 8+len(canary) {
		copy(b[8:], canary)
	}
	binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:]))
	return b
}

// dataNumber returns a payload's number, or an error if it is corrupt.
func dataNumber(b []byte) (int, error) {
	if len(b) < 8 || binary.BigEndian.Uint32(b[4:]) != crc32.ChecksumIEEE(b[8:]) {
		return 0, errors.New("corrupt payload")
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

// dataSize is the size of message i: mostly up to 1 KiB, every 50th at
// the 16 KiB limit.
func dataSize(i int) int {
	if i%50 == 0 {
		return 16384
	}
	return 8 + (i*7919)%1024
}

// probe sends from p until every one of ins has heard it: the server
// relays to a participant once its side of the channels is open too.
func probe(t *testing.T, p *participant, ins ...*inbox) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := p.SendData(ctxT(t, 5*time.Second), []byte("probe"), client.DataOptions{Topic: "probe"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		ready := true
		for _, in := range ins {
			ready = ready && in.count(func(m client.DataMessage) bool { return m.Topic == "probe" }) > 0
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("data channels never carried a probe")
		}
	}
}

func waitCount(t *testing.T, what string, d time.Duration, n func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for n() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d", what, n(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDataMessages: 10,000 reliable messages, up to the size limit,
// arrive whole and in order at everyone in the room; messages to one
// participant by name reach it alone; lossy ones arrive whole or not at
// all. No payload appears in the server's output (its hygiene check).
func TestDataMessages(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--data-rate", "5000", "--data-byte-rate", "1048576", "--data-room-byte-rate", "2097152")
	canary := "DATA-CANARY-" + fmt.Sprint(time.Now().UnixNano())
	s.keepSecret(canary)
	const room = 4242
	a, _ := joinData(t, s, "alice", room)
	b, inB := joinData(t, s, "bob", room)
	c, inC := joinData(t, s, "carol", room)
	plain := s.join(t, "dave", room, "") // no data channels: hears nothing, and is not hurt
	if b.joined.Data == nil || !b.joined.Data.Send || b.joined.Data.MaxMessage != 16384 || plain.joined.Data != nil {
		t.Fatalf("joined data: %+v, without: %+v", b.joined.Data, plain.joined.Data)
	}
	probe(t, a, inB, inC)
	from := a.joined.ParticipantID
	isRoom := func(m client.DataMessage) bool { return m.Topic == "room" }

	const n = 10000
	workers := s.workerPIDs()
	if len(workers) != 1 {
		t.Fatalf("worker pids %v, want one", workers)
	}
	cpu := func(pid int) float64 {
		v, err := procfs.CPUSeconds(pid)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	workerCPU, controlCPU := cpu(workers[0]), cpu(s.cmd.Process.Pid)
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := a.SendData(ctxT(t, 30*time.Second), dataPayload(i, dataSize(i), canary), client.DataOptions{Topic: "room"}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for _, in := range []*inbox{inB, inC} {
		waitCount(t, "room messages", 120*time.Second, func() int { return in.count(isRoom) }, n)
	}
	elapsed := time.Since(start)
	workerCPU, controlCPU = cpu(workers[0])-workerCPU, cpu(s.cmd.Process.Pid)-controlCPU
	t.Logf("%d reliable messages to 2 receivers in %v; worker CPU %.2f s (%.0f µs per message in, %.0f per delivery), control process %.2f s",
		n, elapsed.Round(time.Millisecond), workerCPU, workerCPU/n*1e6, workerCPU/(2*n)*1e6, controlCPU)
	for k, in := range []*inbox{inB, inC} {
		i := 0
		for _, m := range in.all() {
			if !isRoom(m) {
				continue
			}
			num, err := dataNumber(m.Payload)
			if err != nil || num != i || len(m.Payload) != max(dataSize(i), 8) || m.From != from || m.Private || m.Lossy {
				t.Fatalf("receiver %d, message %d: number %d (%v), %d bytes, from %q, private %v", k, i, num, err, len(m.Payload), m.From, m.Private)
			}
			i++
		}
	}

	// 1,000 to bob by name, then one to the room: reliable messages of
	// one sender arrive in order, so once carol has the last, she would
	// have had any of bob's.
	isDM := func(m client.DataMessage) bool { return m.Topic == "dm" }
	for i := 0; i < 1000; i++ {
		if err := a.SendData(ctxT(t, 30*time.Second), dataPayload(i, dataSize(i), canary), client.DataOptions{Topic: "dm", To: []string{b.joined.ParticipantID}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SendData(ctxT(t, 5*time.Second), []byte("fence"), client.DataOptions{Topic: "fence", Text: true}); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "messages to bob", 60*time.Second, func() int { return inB.count(isDM) }, 1000)
	waitCount(t, "the fence at carol", 30*time.Second, func() int { return inC.count(func(m client.DataMessage) bool { return m.Topic == "fence" }) }, 1)
	if got := inC.count(isDM); got != 0 {
		t.Fatalf("carol heard %d messages addressed to bob", got)
	}
	i := 0
	for _, m := range inB.all() {
		if isDM(m) {
			if num, err := dataNumber(m.Payload); err != nil || num != i || !m.Private {
				t.Fatalf("message to bob %d: number %d (%v), private %v", i, num, err, m.Private)
			}
			i++
		}
	}
	if fence := inC.all(); fence[len(fence)-1].Topic != "fence" || !fence[len(fence)-1].Text || string(fence[len(fence)-1].Payload) != "fence" {
		t.Fatalf("fence: %+v", fence[len(fence)-1])
	}

	// Lossy: delivered or dropped, never corrupted.
	isLossy := func(m client.DataMessage) bool { return m.Topic == "lossy" }
	for i := 0; i < 1000; i++ {
		if err := c.SendData(ctxT(t, 5*time.Second), dataPayload(i, 8+i%4000, canary), client.DataOptions{Topic: "lossy", Lossy: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, "some lossy messages", 30*time.Second, func() int { return inB.count(isLossy) }, 1)
	time.Sleep(500 * time.Millisecond)
	seen := make(map[int]bool)
	for _, m := range inB.all() {
		if !isLossy(m) {
			continue
		}
		num, err := dataNumber(m.Payload)
		if err != nil || num >= 1000 || seen[num] || !m.Lossy || m.From != c.joined.ParticipantID {
			t.Fatalf("lossy message: number %d (%v), duplicate %v, lossy %v", num, err, seen[num], m.Lossy)
		}
		seen[num] = true
	}
	t.Logf("lossy: %d of 1000 delivered", len(seen))
}

// TestDataRefusals: an oversized message, a flood beyond the rate, a
// participant whose token forbids data, a message to nobody: each gets
// its error, and the others carry on.
func TestDataRefusals(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--data-rate", "20")
	const room = 4343
	a, _ := joinData(t, s, "alice", room)
	b, inB := joinData(t, s, "bob", room)
	c, _ := joinData(t, s, "carol", room, "--no-data")
	if c.joined.Data == nil || c.joined.Data.Send || c.joined.Data.MessageRate != 20 {
		t.Fatalf("carol's joined data: %+v", c.joined.Data)
	}
	probe(t, a, inB)
	rejected := func(p *participant, code signaling.Code) client.Event {
		return waitEvent(t, p.Client, signaling.TypeDataRejected, 10*time.Second, func(e client.Event) bool {
			r, ok := e.Data.(*signaling.DataRejected)
			return ok && r.Code == code && r.Dropped > 0
		})
	}

	if err := a.SendData(ctxT(t, 5*time.Second), make([]byte, 16385), client.DataOptions{}); !errors.Is(err, client.ErrDataTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // the probes' share of the bucket back
	for i := 0; i < 200; i++ {
		if err := a.SendData(ctxT(t, 5*time.Second), []byte(fmt.Sprint(i)), client.DataOptions{Topic: "flood", Lossy: true}); err != nil {
			t.Fatal(err)
		}
	}
	rejected(a, signaling.CodeDataRate)
	if err := c.SendData(ctxT(t, 5*time.Second), []byte("from carol"), client.DataOptions{Topic: "carol"}); err != nil {
		t.Fatal(err)
	}
	rejected(c, signaling.CodeDataNotAllowed)
	time.Sleep(1100 * time.Millisecond)
	if err := a.SendData(ctxT(t, 5*time.Second), []byte("x"), client.DataOptions{To: []string{"PA_nobody"}}); err != nil {
		t.Fatal(err)
	}
	rejected(a, signaling.CodeDataRefused)
	// bob still hears alice; never carol; and heard of the flood only what
	// the rate let through.
	if err := a.SendData(ctxT(t, 5*time.Second), []byte("after"), client.DataOptions{Topic: "after", Text: true}); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "alice after the refusals", 10*time.Second, func() int {
		return inB.count(func(m client.DataMessage) bool { return m.Topic == "after" })
	}, 1)
	if n := inB.count(func(m client.DataMessage) bool { return m.Topic == "carol" }); n != 0 {
		t.Fatalf("bob heard carol %d times", n)
	}
	if n := inB.count(func(m client.DataMessage) bool { return m.Topic == "flood" }); n >= 200 || n == 0 {
		t.Fatalf("bob heard %d of the flood's 200, want those the rate let through", n)
	}
	for _, p := range []*participant{a, b, c} {
		if err := p.Err(); err != nil {
			t.Fatalf("%s: %v", p.user, err)
		}
	}
}
