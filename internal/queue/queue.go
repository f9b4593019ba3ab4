package queue

import (
	"sync"
	"sync/atomic"
)

// MaxPacket is the largest packet, in bytes, a Packet holds.
const MaxPacket = 1500

// Item is one queued packet as handed to the Scheduler's send function.
type Item[T any] struct {
	// Dst is the value given to PushPacket with the packet, for example the
	// track the packet is to be written to.
	Dst T
	// Data is the packet. It points into a pooled buffer and stays valid
	// until send returns.
	Data []byte
}

// Stats counts what happened to the packets given to PushPacket.
type Stats struct {
	Pushed        uint64 // accepted
	DroppedFull   uint64 // dropped because the queue was full
	DroppedClosed uint64 // dropped because the queue was closed
}

// Packet is a packet buffer shared by every queue it is pushed to: a
// packet fanned out to fifty subscribers is copied once, not fifty times,
// and each queue holds a reference instead of 1,500 bytes a slot. It goes
// back to a pool when its holder and every queue that took it are done.
// Its bytes must not change once made.
type Packet struct {
	refs atomic.Int32
	n    int
	buf  [MaxPacket]byte
}

var packets = sync.Pool{New: func() any { return new(Packet) }}

// NewPacket copies data into a pooled Packet held once by the caller,
// who must Release it. It reports false for data longer than MaxPacket.
func NewPacket(data []byte) (*Packet, bool) {
	if len(data) > MaxPacket {
		return nil, false
	}
	p := packets.Get().(*Packet)
	p.n = copy(p.buf[:], data)
	p.refs.Store(1)
	return p, true
}

// Data is the packet's bytes, valid while it is held.
func (p *Packet) Data() []byte { return p.buf[:p.n] }

// Release gives up one hold on p.
func (p *Packet) Release() {
	switch r := p.refs.Add(-1); {
	case r == 0:
		packets.Put(p)
	case r < 0:
		panic("queue: Packet released more often than held")
	}
}

type slot[T any] struct {
	dst T
	pkt *Packet
}

// Queue is a bounded FIFO of packets, each with a destination of type T,
// drained by its Scheduler. PushPacket may be called from any number of
// goroutines. Make one with Scheduler.NewQueue.
type Queue[T any] struct {
	sched *Scheduler[T]

	mu     sync.Mutex
	slots  []slot[T]
	head   int  // index of the oldest occupied slot
	count  int  // occupied slots, including those lent to a drainer
	lent   int  // slots from head handed out by take
	listed bool // on the scheduler's run list or being drained
	closed bool
	stats  Stats
}

// PushPacket queues a hold on p, shared with whoever else holds it, with
// its destination dst. It never blocks: it returns false, and counts the
// drop, if the queue is full or closed.
func (q *Queue[T]) PushPacket(dst T, p *Packet) bool {
	q.mu.Lock()
	switch {
	case q.closed:
		q.stats.DroppedClosed++
		q.mu.Unlock()
		return false
	case q.count == len(q.slots):
		q.stats.DroppedFull++
		q.mu.Unlock()
		return false
	}
	p.refs.Add(1)
	i := q.head + q.count
	if i >= len(q.slots) {
		i -= len(q.slots)
	}
	q.slots[i] = slot[T]{dst: dst, pkt: p}
	q.count++
	q.stats.Pushed++
	list := !q.listed
	q.listed = true
	q.mu.Unlock()
	if list {
		q.sched.ready(q)
	}
	return true
}

// take lends up to len(items) packets, oldest first, to a drainer. They
// count against the capacity until giveBack.
func (q *Queue[T]) take(items []Item[T]) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	n := min(q.count, len(items))
	i := q.head
	for k := range n {
		s := &q.slots[i]
		items[k] = Item[T]{Dst: s.dst, Data: s.pkt.Data()}
		if i++; i == len(q.slots) {
			i = 0
		}
	}
	q.lent = n
	return n
}

// giveBack returns the slots lent by take and reports whether the queue
// still holds packets, and so goes back on the run list.
func (q *Queue[T]) giveBack() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for range q.lent {
		q.slots[q.head].pkt.Release()
		q.slots[q.head] = slot[T]{} // do not keep the destination alive
		if q.head++; q.head == len(q.slots) {
			q.head = 0
		}
	}
	q.count -= q.lent
	q.lent = 0
	q.listed = q.count > 0 && !q.closed
	return q.listed
}

// Close discards the queued packets and makes further Pushes fail.
// Packets being sent at that moment are sent. Close may be called more
// than once, from any goroutine.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	i := q.head + q.lent
	for range q.count - q.lent {
		if i >= len(q.slots) {
			i -= len(q.slots)
		}
		q.slots[i].pkt.Release()
		q.slots[i] = slot[T]{}
		i++
	}
	q.count = q.lent
}

// Len returns the number of packets queued and not being sent.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count - q.lent
}

// Cap returns the number of packets the queue can hold, including those
// being sent.
func (q *Queue[T]) Cap() int { return len(q.slots) }

// Stats returns the counters of packets given to PushPacket.
func (q *Queue[T]) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}
