package queue

import "sync"

// MaxPacket is the largest packet, in bytes, a Queue accepts. Larger
// packets are dropped and counted in Stats.DroppedTooBig.
const MaxPacket = 1500

// Item is one queued packet as handed to the Scheduler's send function.
type Item[T any] struct {
	// Dst is the value given to Push with the packet, for example the
	// track the packet is to be written to.
	Dst T
	// Data is the packet. It points into the Queue's own buffer and stays
	// valid until send returns.
	Data []byte
}

// Stats counts what happened to the packets given to Push.
type Stats struct {
	Pushed        uint64 // accepted
	DroppedFull   uint64 // dropped because the queue was full
	DroppedTooBig uint64 // dropped because longer than MaxPacket
	DroppedClosed uint64 // dropped because the queue was closed
}

type slot[T any] struct {
	dst T
	n   int
	buf [MaxPacket]byte
}

// Queue is a bounded FIFO of packets, each with a destination of type T,
// drained by its Scheduler. Push may be called from any number of
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

// Push copies pkt into the queue with its destination dst. It never
// blocks: it returns false, and counts the drop, if pkt is longer than
// MaxPacket, the queue is full or it is closed.
func (q *Queue[T]) Push(dst T, pkt []byte) bool {
	q.mu.Lock()
	switch {
	case q.closed:
		q.stats.DroppedClosed++
		q.mu.Unlock()
		return false
	case len(pkt) > MaxPacket:
		q.stats.DroppedTooBig++
		q.mu.Unlock()
		return false
	case q.count == len(q.slots):
		q.stats.DroppedFull++
		q.mu.Unlock()
		return false
	}
	i := q.head + q.count
	if i >= len(q.slots) {
		i -= len(q.slots)
	}
	s := &q.slots[i]
	s.dst = dst
	s.n = copy(s.buf[:], pkt)
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
		items[k] = Item[T]{Dst: s.dst, Data: s.buf[:s.n]}
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
	var zero T
	for range q.lent {
		q.slots[q.head].dst = zero // do not keep the destination alive
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
	var zero T
	i := q.head + q.lent
	for range q.count - q.lent {
		if i >= len(q.slots) {
			i -= len(q.slots)
		}
		q.slots[i].dst = zero
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

// Stats returns the counters of packets given to Push.
func (q *Queue[T]) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}
