package queue

import "sync"

// MaxPacket is the largest packet, in bytes, a Queue accepts. Larger
// packets are dropped and counted in Stats.DroppedTooBig.
const MaxPacket = 1500

// Item is one queued packet as handed to the consumer.
type Item[T any] struct {
	// Dst is the value given to Push with the packet, for example the
	// track the packet is to be written to.
	Dst T
	// Data is the packet. It points into the Queue's own buffer and stays
	// valid until the next call to Pop.
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

// Queue is a bounded FIFO of packets, each with a destination of type T.
// Push may be called from any number of goroutines; Pop from one goroutine
// at a time. The zero value is not usable; call New.
type Queue[T any] struct {
	mu      sync.Mutex
	nonzero sync.Cond // signalled when an item arrives or on Close

	slots   []slot[T]
	head    int  // index of the oldest occupied slot
	count   int  // occupied slots, including those lent to the consumer
	lent    int  // slots from head handed out by the last Pop
	waiting bool // the consumer is blocked in Pop
	closed  bool
	stats   Stats
}

// New returns a Queue holding up to capacity packets (at least 1). All
// buffers are allocated here.
func New[T any](capacity int) *Queue[T] {
	q := &Queue[T]{slots: make([]slot[T], max(capacity, 1))}
	q.nonzero.L = &q.mu
	return q
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
	wake := q.waiting
	q.mu.Unlock()
	if wake {
		q.nonzero.Signal()
	}
	return true
}

// Pop waits until the queue holds at least one packet, then moves up to
// len(batch) packets, oldest first, into batch and returns how many.
// The packets' Data stay valid until the next call to Pop, which gives
// their slots back to the queue: until then they count against its
// capacity. With an empty batch Pop only gives back the slots and returns
// at once.
//
// Once the queue is closed, Pop returns 0 and ok=false at once: packets
// still queued are discarded, since there is no one left to send them to.
func (q *Queue[T]) Pop(batch []Item[T]) (n int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release()
	if len(batch) == 0 {
		return 0, !q.closed
	}
	for q.count == 0 && !q.closed {
		q.waiting = true
		q.nonzero.Wait()
		q.waiting = false
	}
	if q.closed {
		return 0, false
	}
	n = min(q.count, len(batch))
	i := q.head
	for k := range n {
		s := &q.slots[i]
		batch[k] = Item[T]{Dst: s.dst, Data: s.buf[:s.n]}
		if i++; i == len(q.slots) {
			i = 0
		}
	}
	q.lent = n
	return n, true
}

// release gives back the slots lent by the last Pop. q.mu must be held.
func (q *Queue[T]) release() {
	var zero T
	for range q.lent {
		q.slots[q.head].dst = zero // do not keep the destination alive
		if q.head++; q.head == len(q.slots) {
			q.head = 0
		}
	}
	q.count -= q.lent
	q.lent = 0
}

// Close discards the queued packets, makes further Pushes fail and wakes
// the consumer, whose Pop returns ok=false. Packets lent by the last Pop
// stay valid until the consumer's next Pop. Close may be called more than
// once, from any goroutine.
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
	q.nonzero.Broadcast()
}

// Len returns the number of packets queued and not yet handed out by Pop.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count - q.lent
}

// Cap returns the number of packets the queue can hold, including those
// handed out by the last Pop.
func (q *Queue[T]) Cap() int { return len(q.slots) }

// Stats returns the counters of packets given to Push.
func (q *Queue[T]) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}
