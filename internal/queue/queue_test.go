package queue

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// hang bounds every wait on a drainer, so that a lost packet fails the test
// instead of stalling it. It is never a measure of speed.
const hang = 30 * time.Second

// tag is the destination pushed with each test packet: which queue (or
// producer) it belongs to and its place in that sequence.
type tag struct{ q, seq int }

// gateQ is the tag.q of the packets of a stepper's own gate queue.
const gateQ = -1

func payload(b byte, size int) []byte {
	return bytes.Repeat([]byte{b}, size)
}

// pkt is the packet pushed as packet seq of queue q: its length and bytes
// follow from both, so a torn, stale or misplaced packet shows.
func pkt(q, seq int) []byte {
	return payload(byte(31*q+seq), 20+seq%50)
}

func push(q *Queue[*tag], qi, seq int) bool {
	return pushCopy(q, &tag{q: qi, seq: seq}, pkt(qi, seq))
}

// seqs returns from, from+1, ..., to-1.
func seqs(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// stepper is a Scheduler whose send hands each batch to the test and then
// waits for the test to let it return. The test thus decides when a drainer
// is busy, and what gets queued meanwhile.
type stepper struct {
	*Scheduler[*tag]
	calls   chan []Item[*tag]
	release chan struct{}
	stop    chan struct{}
	gate    *Queue[*tag]
}

func newStepper(t *testing.T, drainers, batch int) *stepper {
	s := &stepper{
		calls:   make(chan []Item[*tag]),
		release: make(chan struct{}),
		stop:    make(chan struct{}),
	}
	s.Scheduler = NewScheduler(drainers, batch, func(items []Item[*tag]) {
		select {
		case s.calls <- items:
		case <-s.stop:
			return
		}
		select {
		case <-s.release:
		case <-s.stop:
		}
	})
	// Two slots: the drainer may not yet have given back the last gate
	// packet when hold pushes the next.
	s.gate = s.NewQueue(2)
	t.Cleanup(func() {
		close(s.stop) // a failed test may leave a drainer inside send
		s.Close()
	})
	return s
}

// next waits for the next call of send and returns its packets while the
// drainer stays inside send: the caller must call done.
func (s *stepper) next(t *testing.T) []Item[*tag] {
	t.Helper()
	select {
	case items := <-s.calls:
		return items
	case <-time.After(hang):
		t.Fatal("nothing was sent")
		return nil
	}
}

// expect is next, checking that the packets are exactly seqs of queue q.
func (s *stepper) expect(t *testing.T, q int, seqs ...int) []Item[*tag] {
	t.Helper()
	items := s.next(t)
	got := make([]tag, len(items))
	for i, it := range items {
		got[i] = *it.Dst
		if it.Dst.q != gateQ && !bytes.Equal(it.Data, pkt(it.Dst.q, it.Dst.seq)) {
			t.Errorf("packet %+v: wrong data (%d bytes)", *it.Dst, len(it.Data))
		}
	}
	want := make([]tag, len(seqs))
	for i, seq := range seqs {
		want[i] = tag{q, seq}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	return items
}

// done lets the drainer inside send return.
func (s *stepper) done(t *testing.T) {
	t.Helper()
	select {
	case s.release <- struct{}{}:
	case <-time.After(hang):
		t.Fatal("no drainer is inside send")
	}
}

// sent is expect followed by done.
func (s *stepper) sent(t *testing.T, q int, seqs ...int) {
	t.Helper()
	s.expect(t, q, seqs...)
	s.done(t)
}

// hold makes the drainer (there must be only one) busy sending a packet of
// the gate queue, so that what the test pushes next waits, in order, on the
// run list until done.
func (s *stepper) hold(t *testing.T) {
	t.Helper()
	if !pushCopy(s.gate, &tag{q: gateQ}, nil) {
		t.Fatal("gate queue is busy")
	}
	s.expect(t, gateQ, 0)
}

// idle checks that nothing is left to send: with one drainer, a packet
// pushed now is sent after every queue already on the run list. When it
// returns, the drainer has also given back the slots of all it sent.
func (s *stepper) idle(t *testing.T) {
	t.Helper()
	s.hold(t)
	s.done(t)
}

func TestOrder(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 3)
	q := s.NewQueue(8)
	s.hold(t)
	for i := range 5 {
		if !push(q, 0, i) {
			t.Fatalf("Push(%d) = false", i)
		}
	}
	if got := q.Len(); got != 5 {
		t.Errorf("Len() = %d, want 5", got)
	}
	s.done(t)
	s.expect(t, 0, 0, 1, 2)
	if got := q.Len(); got != 2 {
		t.Errorf("Len() while 3 are sent = %d, want 2", got)
	}
	s.done(t)
	s.sent(t, 0, 3, 4)
	if got := q.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
	s.idle(t)
}

// TestWrapAround keeps a queue of 3 slots busy, pushing a varying number of
// packets while each batch is being sent, so that the ring wraps both in
// Push and in the middle of a batch.
func TestWrapAround(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 2)
	q := s.NewQueue(3)
	next, want, full, wrapped := 0, 0, uint64(0), 0
	check := func(items []Item[*tag]) {
		t.Helper()
		// The n-th accepted packet sits in slot n%3.
		if len(items) > 1 && items[0].Dst.seq%q.Cap() == q.Cap()-1 {
			wrapped++
		}
		for _, it := range items {
			if it.Dst.seq != want || !bytes.Equal(it.Data, pkt(0, want)) {
				t.Fatalf("sent packet %d (%d bytes), want %d", it.Dst.seq, len(it.Data), want)
			}
			want++
		}
	}
	push(q, 0, next)
	next++
	for round := range 30 {
		check(s.next(t))
		// There is always a free slot or a queued packet, so another
		// batch follows this one.
		for range 1 + round%3 {
			if !push(q, 0, next) {
				full++
				break
			}
			next++
		}
		s.done(t)
	}
	for want < next {
		check(s.next(t))
		s.done(t)
	}
	s.idle(t)
	if wrapped == 0 || full == 0 {
		t.Errorf("%d batches wrapped, %d pushes found the queue full; want some of both", wrapped, full)
	}
	if st := q.Stats(); st != (Stats{Pushed: uint64(next), DroppedFull: full}) {
		t.Errorf("Stats() = %+v, want %d pushed, %d full", st, next, full)
	}
}

// pushCopy pushes a copy of data, as a publisher's reader does for a
// packet it fans out to one queue.
func pushCopy[T any](q *Queue[T], dst T, data []byte) bool {
	p, ok := NewPacket(data)
	if !ok {
		return false
	}
	defer p.Release()
	return q.PushPacket(dst, p)
}

func TestDrops(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 4)
	q := s.NewQueue(2)
	s.hold(t)
	results := []bool{
		pushCopy(q, &tag{0, 0}, payload(1, 100)),
		pushCopy(q, &tag{0, 1}, payload(2, MaxPacket)),
		pushCopy(q, &tag{0, 2}, payload(3, 100)), // full
	}
	if want := []bool{true, true, false}; !slices.Equal(results, want) {
		t.Errorf("Push results %v, want %v", results, want)
	}
	q.Close()
	if pushCopy(q, &tag{0, 4}, payload(5, 1)) {
		t.Error("Push after Close = true")
	}
	want := Stats{Pushed: 2, DroppedFull: 1, DroppedClosed: 1}
	if got := q.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	s.done(t)
	s.idle(t) // the two accepted packets were discarded by Close
}

// TestLentBuffersStayValid checks that packets being sent are not
// overwritten by Pushes meanwhile, and count against the capacity until
// send returns.
func TestLentBuffersStayValid(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 4)
	q := s.NewQueue(2)
	push(q, 0, 0)
	items := s.expect(t, 0, 0)
	if !push(q, 0, 1) {
		t.Fatal("Push into the free slot = false")
	}
	if push(q, 0, 2) {
		t.Fatal("Push over the slot being sent = true")
	}
	if q.Len() != 1 || q.Cap() != 2 {
		t.Errorf("Len(), Cap() = %d, %d; want 1, 2", q.Len(), q.Cap())
	}
	if !bytes.Equal(items[0].Data, pkt(0, 0)) {
		t.Fatal("packet being sent was overwritten")
	}
	s.done(t)
	s.expect(t, 0, 1)
	if !push(q, 0, 2) {
		t.Fatal("Push after the slot came back = false")
	}
	s.done(t)
	s.sent(t, 0, 2)
	if got := q.Stats().DroppedFull; got != 1 {
		t.Errorf("DroppedFull = %d, want 1", got)
	}
}

func TestCloseDiscardsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 1)
	q := s.NewQueue(4)
	push(q, 0, 0)
	items := s.expect(t, 0, 0)
	push(q, 0, 1)
	push(q, 0, 2)
	q.Close()
	q.Close()
	if got := q.Len(); got != 0 {
		t.Errorf("Len() after Close = %d, want 0", got)
	}
	if !bytes.Equal(items[0].Data, pkt(0, 0)) {
		t.Error("Close overwrote the packet being sent")
	}
	q.mu.Lock()
	for i := 1; i < len(q.slots); i++ { // slot 0 is being sent
		if q.slots[i].dst != nil {
			t.Errorf("slot %d still holds its destination after Close", i)
		}
	}
	q.mu.Unlock()
	s.done(t)
	s.idle(t) // packets 1 and 2 were discarded
	q.mu.Lock()
	if q.slots[0].dst != nil {
		t.Error("slot 0 still holds its destination after it was sent")
	}
	q.mu.Unlock()
	if push(q, 0, 3) {
		t.Error("Push after Close = true")
	}
	if st := q.Stats(); st != (Stats{Pushed: 3, DroppedClosed: 1}) {
		t.Errorf("Stats() = %+v, want 3 pushed, 1 closed", st)
	}
}

// TestMinimums checks that capacities, drainer counts and batch sizes
// below 1 mean 1.
func TestMinimums(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 0, 0)
	for _, c := range []int{0, -1} {
		if got := s.NewQueue(c).Cap(); got != 1 {
			t.Errorf("NewQueue(%d).Cap() = %d, want 1", c, got)
		}
	}
	q := s.NewQueue(3)
	s.hold(t)
	for i := range 3 {
		push(q, 0, i)
	}
	s.done(t)
	for i := range 3 {
		s.sent(t, 0, i)
	}
	s.idle(t)
}

// track stands for a destination that must not be kept alive by a queue
// once its packet is sent. It is large enough not to be a tiny allocation,
// whose cleanup might never run.
type track struct {
	id int
	_  [64]byte
}

// pushTracked pushes a packet to a fresh track and returns a channel closed
// once the track is collected. It is not inlined so that no reference to
// the track outlives it on the caller's stack.
//
//go:noinline
func pushTracked(q *Queue[*track]) <-chan struct{} {
	collected := make(chan struct{})
	d := &track{id: 1}
	runtime.AddCleanup(d, func(ch chan struct{}) { close(ch) }, collected)
	pushCopy(q, d, payload(1, 10))
	return collected
}

// TestDstNotRetained checks that neither the queue's slot nor the
// drainer's batch keeps a packet's destination alive once it is sent.
func TestDstNotRetained(t *testing.T) {
	t.Parallel()
	calls := make(chan int)
	stop := make(chan struct{})
	sched := NewScheduler(1, 4, func(items []Item[*track]) {
		select {
		case calls <- len(items):
		case <-stop: // the test failed and no longer reads calls
		}
	})
	defer sched.Close()
	defer close(stop)
	other := sched.NewQueue(2)
	q := sched.NewQueue(4)

	// The drainer waits in send for other's packet while q gets two, so
	// that the tracked destination is second in its batch: a later batch
	// of one packet does not overwrite it.
	pushCopy(other, &track{id: 2}, nil)
	pushCopy(q, &track{id: 3}, payload(1, 10))
	collected := pushTracked(q)
	for _, want := range []int{1, 2} {
		if got := wait(t, calls, "packets never sent"); got != want {
			t.Fatalf("batch of %d, want %d", got, want)
		}
	}
	// The only drainer sends this once it has given back q's slots.
	pushCopy(other, &track{id: 4}, nil)
	wait(t, calls, "last packet never sent")

	q.mu.Lock()
	for i := range q.slots {
		if q.slots[i].dst != nil {
			t.Errorf("slot %d still holds its destination", i)
		}
	}
	q.mu.Unlock()
	runtime.GC()
	runtime.GC()
	wait(t, collected, "destination still reachable after its packet was sent")
}

func wait[E any](t *testing.T, ch <-chan E, msg string) E {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hang):
		t.Fatal(msg)
		var zero E
		return zero
	}
}

// TestConcurrent runs eight producers against one queue drained by two
// drainers. Under -race it checks the locking; it also checks that every
// accepted packet arrives intact and in its producer's order, and that
// accepted plus dropped packets add up.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const producers, perProducer = 8, 3000
	const marker = producers // tag.q of the last packet pushed

	// The queue is drained by one drainer at a time, so send needs no lock
	// of its own; -race checks that.
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	total := 0
	done := make(chan struct{})
	sched := NewScheduler(2, 16, func(items []Item[*tag]) {
		for _, it := range items {
			p, seq := it.Dst.q, it.Dst.seq
			if p == marker {
				close(done)
				continue
			}
			if seq <= last[p] {
				t.Errorf("producer %d: seq %d after %d", p, seq, last[p])
			}
			if !bytes.Equal(it.Data[4:], pkt(p, seq)[4:]) || int(binary.BigEndian.Uint32(it.Data)) != seq {
				t.Errorf("producer %d: seq %d torn", p, seq)
			}
			last[p] = seq
			total++
		}
	})
	defer sched.Close()
	q := sched.NewQueue(64)

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for seq := range perProducer {
				b := pkt(p, seq)
				binary.BigEndian.PutUint32(b, uint32(seq))
				pushCopy(q, &tag{p, seq}, b)
			}
		})
	}
	wg.Wait()
	// Once the marker, pushed last, is sent, so is every packet before it.
	retries := 0
	for !pushCopy(q, &tag{q: marker}, nil) {
		retries++
		runtime.Gosched()
	}
	wait(t, done, "marker never sent")

	st := q.Stats()
	if st.Pushed+st.DroppedFull != producers*perProducer+1+uint64(retries) {
		t.Errorf("pushed %d + dropped %d != %d + marker", st.Pushed, st.DroppedFull, producers*perProducer)
	}
	if uint64(total) != st.Pushed-1 {
		t.Errorf("sent %d, pushed %d", total, st.Pushed-1)
	}
}

// BenchmarkPushSend is one packet's round trip: Push, a drainer wakes and
// sends it, and the pusher learns that it was sent. Nothing waits in the
// queue, so this is the cost of the hand-off, two wake-ups included.
func BenchmarkPushSend(b *testing.B) {
	sent := make(chan struct{}, 1)
	sched := NewScheduler(1, 16, func([]Item[int]) { sent <- struct{}{} })
	defer sched.Close()
	q := sched.NewQueue(256)
	p := payload(1, 1200)
	pushCopy(q, 1, p) // the first wake-up allocates what the drainer then reuses
	<-sent
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		pushCopy(q, 1, p)
		<-sent
	}
}

// benchmarkFanOut has producers push b.N packets, each copied once into a
// Packet shared by every one of queues queues, and waits until all are sent by drainers drainers. A full
// queue makes its producer yield and retry, so nothing is dropped.
func benchmarkFanOut(b *testing.B, producers, queues, drainers int) {
	var sent atomic.Int64
	all := int64(b.N * queues)
	done := make(chan struct{})
	sched := NewScheduler(drainers, 16, func(items []Item[int]) {
		if sent.Add(int64(len(items))) == all {
			close(done)
		}
	})
	defer sched.Close()
	qs := make([]*Queue[int], queues)
	for i := range qs {
		qs[i] = sched.NewQueue(256)
	}
	p := payload(1, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(p) * queues))
	// The producers start before the timer, so that only the steady state
	// counts, down to the allocations.
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range producers {
		wg.Go(func() {
			<-start
			for i := w; i < b.N; i += producers {
				// One copy per packet, shared by every queue, as the
				// publisher's reader does.
				shared, _ := NewPacket(p)
				for _, q := range qs {
					for !q.PushPacket(w, shared) {
						runtime.Gosched()
					}
				}
				shared.Release()
			}
		})
	}
	b.ResetTimer()
	close(start)
	<-done
	b.StopTimer()
	wg.Wait()
}

// BenchmarkProducers1 moves packets from one producer goroutine through
// one queue to one drainer sending batches of up to 16; every packet is
// sent.
func BenchmarkProducers1(b *testing.B) { benchmarkFanOut(b, 1, 1, 1) }

// BenchmarkProducers4 is BenchmarkProducers1 with four producers.
func BenchmarkProducers4(b *testing.B) { benchmarkFanOut(b, 4, 1, 1) }

// BenchmarkFanOut50 is one publisher's reader pushing each packet to 50
// subscribers' queues, drained by two drainers: the case the Scheduler is
// for. An op is one packet pushed to and sent from all 50 queues.
func BenchmarkFanOut50(b *testing.B) { benchmarkFanOut(b, 1, 50, 2) }

// A shared Packet is held once by each queue that took it and once by its
// maker; it is intact while any holds it and goes back to the pool when
// the last lets go. A queue that drops it takes no hold.
func TestSharedPacket(t *testing.T) { // not parallel: it watches a pooled Packet
	s := newStepper(t, 1, 4)
	s.hold(t) // the drainer is busy: everything below stays queued
	a, b, full := s.NewQueue(4), s.NewQueue(4), s.NewQueue(1)
	p, ok := NewPacket(pkt(0, 7))
	if !ok {
		t.Fatal("NewPacket refused a small packet")
	}
	for i, q := range []*Queue[*tag]{a, b} {
		if !q.PushPacket(&tag{q: 0, seq: 7}, p) {
			t.Fatalf("PushPacket into queue %d failed", i)
		}
	}
	if !pushCopy(full, &tag{q: 2}, pkt(2, 0)) {
		t.Fatal("first push into an empty queue failed")
	}
	if full.PushPacket(&tag{q: 0, seq: 7}, p) {
		t.Fatal("PushPacket into a full queue succeeded")
	}
	if got := p.refs.Load(); got != 3 {
		t.Fatalf("%d holds, want 3 (maker, a, b)", got)
	}
	p.Release() // the maker is done; the queues still hold it
	s.done(t)   // the gate's send returns; a, then b, then full are sent
	for range 2 {
		items := s.expect(t, 0, 7)
		if &items[0].Data[0] != &p.buf[0] {
			t.Fatal("a queue sent a copy, not the shared packet")
		}
		s.done(t)
	}
	// Sending full's packet, the drainer has given back b's slot: p is
	// back in the pool, and nothing takes it out while the drainer waits.
	s.expect(t, 2, 0)
	if got := p.refs.Load(); got != 0 {
		t.Fatalf("%d holds left after every queue sent it, want 0", got)
	}
	s.done(t)
	s.idle(t)
	if _, ok := NewPacket(make([]byte, MaxPacket+1)); ok {
		t.Fatal("NewPacket took more than MaxPacket bytes")
	}
}

// Close gives back the holds of the packets it discards.
func TestCloseReleasesPackets(t *testing.T) {
	s := newStepper(t, 1, 4)
	s.hold(t)
	q := s.NewQueue(4)
	p, _ := NewPacket(pkt(0, 1))
	q.PushPacket(&tag{q: 0, seq: 1}, p)
	q.PushPacket(&tag{q: 0, seq: 2}, p)
	q.Close()
	if got := p.refs.Load(); got != 1 {
		t.Fatalf("%d holds after Close, want only the maker's", got)
	}
	p.Release()
	s.done(t)
}

func TestReleaseTooOften(t *testing.T) { // not parallel: no one else may take p from the pool
	p := &Packet{}
	p.refs.Store(1)
	p.Release()
	defer func() {
		if recover() == nil {
			t.Fatal("a second Release did not panic")
		}
	}()
	p.Release()
}
