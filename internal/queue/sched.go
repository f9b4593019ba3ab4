package queue

import "sync"

// Scheduler drains many queues with a few goroutines. A queue that gets a
// packet joins the scheduler's run list; a drainer takes the queue at the
// head of the list, hands up to a batch of its packets to send, and puts
// the queue back at the tail if it still holds packets, so every queue gets
// its turn. One packet fanned out to fifty subscribers thus wakes one
// goroutine instead of fifty, and their writes reach the socket together.
//
// send must not block for long: it holds up every queue behind the one it
// serves. A queue is drained by one drainer at a time, in order.
type Scheduler[T any] struct {
	send  func([]Item[T])
	batch int

	mu      sync.Mutex
	nonzero sync.Cond // signalled when a queue joins the run list while a drainer waits, and on Close
	run     []*Queue[T]
	head, n int // the run list is run[head:head+n], wrapping
	waiting int // drainers blocked in next
	closed  bool
	wg      sync.WaitGroup
}

// NewScheduler starts drainers goroutines (at least 1) that pass up to
// batch packets at a time (at least 1) to send. The packets' Data are valid
// until send returns.
func NewScheduler[T any](drainers, batch int, send func([]Item[T])) *Scheduler[T] {
	s := &Scheduler[T]{send: send, batch: max(batch, 1), run: make([]*Queue[T], 16)}
	s.nonzero.L = &s.mu
	for range max(drainers, 1) {
		s.wg.Add(1)
		go s.drain()
	}
	return s
}

// NewQueue returns a queue of capacity packets (at least 1) drained by s.
// All its buffers are allocated here.
func (s *Scheduler[T]) NewQueue(capacity int) *Queue[T] {
	return &Queue[T]{sched: s, slots: make([]slot[T], max(capacity, 1))}
}

// Close stops the drainers and waits for them. Packets still queued are
// not sent.
func (s *Scheduler[T]) Close() {
	s.mu.Lock()
	s.closed = true
	s.nonzero.Broadcast()
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Scheduler[T]) drain() {
	defer s.wg.Done()
	items := make([]Item[T], s.batch)
	for {
		q := s.next()
		if q == nil {
			return
		}
		if n := q.take(items); n > 0 {
			s.send(items[:n])
			clear(items[:n]) // do not keep destinations alive
		}
		if q.giveBack() {
			s.ready(q)
		}
	}
}

// ready appends q to the run list.
func (s *Scheduler[T]) ready(q *Queue[T]) {
	s.mu.Lock()
	if s.n == len(s.run) {
		grown := make([]*Queue[T], 2*len(s.run))
		for i := range s.n {
			grown[i] = s.run[(s.head+i)%len(s.run)]
		}
		s.run, s.head = grown, 0
	}
	s.run[(s.head+s.n)%len(s.run)] = q
	s.n++
	wake := s.waiting > 0
	s.mu.Unlock()
	if wake {
		s.nonzero.Signal()
	}
}

// next waits for a queue on the run list and takes it off; nil once the
// scheduler is closed.
func (s *Scheduler[T]) next() *Queue[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n == 0 && !s.closed {
		s.waiting++
		s.nonzero.Wait()
		s.waiting--
	}
	if s.closed {
		return nil
	}
	q := s.run[s.head]
	s.run[s.head] = nil
	s.head = (s.head + 1) % len(s.run)
	s.n--
	return q
}
