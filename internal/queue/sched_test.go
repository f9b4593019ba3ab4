package queue

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestFairness fills a queue with many packets and a second one with a
// few while the only drainer is busy: the second queue's first packet must
// go out after one batch of the first, and the two then take turns.
func TestFairness(t *testing.T) {
	t.Parallel()
	const batch = 4
	s := newStepper(t, 1, batch)
	a, b := s.NewQueue(64), s.NewQueue(64)
	s.hold(t)
	for i := range 5*batch + 2 {
		push(a, 0, i)
	}
	for i := range 2*batch + 1 {
		push(b, 1, i)
	}
	s.done(t)
	for _, step := range []struct{ q, from, to int }{
		{0, 0, 4}, {1, 0, 4},
		{0, 4, 8}, {1, 4, 8},
		{0, 8, 12}, {1, 8, 9}, // b is empty and leaves the run list
		{0, 12, 16}, {0, 16, 20}, {0, 20, 22},
	} {
		s.sent(t, step.q, seqs(step.from, step.to)...)
	}
	s.idle(t)
}

// TestRunListGrows lists more queues than the run list first has room for,
// while its head is not at index 0, and checks that they are still served
// in the order they were listed, round after round.
func TestRunListGrows(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 1)
	qs := make([]*Queue[*tag], 100)
	s.hold(t)
	for i := range qs {
		qs[i] = s.NewQueue(2)
		push(qs[i], i, 0)
		push(qs[i], i, 1)
	}
	s.done(t)
	for seq := range 2 {
		for i := range qs {
			s.sent(t, i, seq)
		}
	}
	s.idle(t)
}

// TestPushWhileSending pushes a packet into a queue whose previous packet
// is being sent: Push does not list the queue again, so the drainer must
// notice the packet when it gives the queue back.
func TestPushWhileSending(t *testing.T) {
	t.Parallel()
	s := newStepper(t, 1, 4)
	q := s.NewQueue(4)
	push(q, 0, 0)
	s.expect(t, 0, 0)
	push(q, 0, 1)
	s.done(t)
	s.sent(t, 0, 1)
	s.idle(t)
}

// TestNoLostWakeup pushes each packet as soon as the previous one of its
// queue is sent, many times, so that Pushes race with the drainer giving
// the queue back. A lost wake-up leaves a packet unsent and fails the wait.
func TestNoLostWakeup(t *testing.T) {
	t.Parallel()
	const queues, rounds = 4, 2000
	sent := make([]chan int, queues)
	for i := range sent {
		sent[i] = make(chan int, 1)
	}
	stop := make(chan struct{})
	sched := NewScheduler(2, 4, func(items []Item[*tag]) {
		for _, it := range items {
			select {
			case sent[it.Dst.q] <- it.Dst.seq:
			case <-stop: // the queue's pusher failed and left
			}
		}
	})
	defer sched.Close()
	defer close(stop)
	var wg sync.WaitGroup
	for qi := range queues {
		q := sched.NewQueue(4)
		wg.Go(func() {
			for i := range rounds {
				if !push(q, qi, i) {
					t.Errorf("queue %d: Push(%d) = false into an empty queue", qi, i)
					return
				}
				select {
				case got := <-sent[qi]:
					if got != i {
						t.Errorf("queue %d: sent %d, want %d", qi, got, i)
						return
					}
				case <-time.After(hang):
					t.Errorf("queue %d: packet %d never sent", qi, i)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFIFOSeveralDrainers has four drainers serve eight queues, each fed
// by its own producer that retries when the queue is full. Each queue's
// packets must all be sent, once, in order, and never by two drainers at
// once.
func TestFIFOSeveralDrainers(t *testing.T) {
	t.Parallel()
	const queues, perQueue = 8, 2000
	var sending [queues]atomic.Bool
	// next[q] is touched only by the drainer that holds sending[q].
	var next [queues]int
	var total atomic.Int64
	done := make(chan struct{})
	sched := NewScheduler(4, 4, func(items []Item[*tag]) {
		defer func() {
			if total.Add(int64(len(items))) == queues*perQueue {
				close(done)
			}
		}()
		qi := items[0].Dst.q
		if !sending[qi].CompareAndSwap(false, true) {
			t.Errorf("queue %d is being sent by two drainers at once", qi)
			return
		}
		for _, it := range items {
			if it.Dst.q != qi {
				t.Errorf("one batch holds packets of queues %d and %d", qi, it.Dst.q)
				continue
			}
			if it.Dst.seq != next[qi] || !bytes.Equal(it.Data, pkt(qi, it.Dst.seq)) {
				t.Errorf("queue %d: sent packet %d (%d bytes), want %d", qi, it.Dst.seq, len(it.Data), next[qi])
			}
			next[qi] = it.Dst.seq + 1
		}
		runtime.Gosched() // widen the window for a second drainer to take qi
		sending[qi].Store(false)
	})
	defer sched.Close()
	qs := make([]*Queue[*tag], queues)
	for qi := range qs {
		qs[qi] = sched.NewQueue(16)
		go func() {
			for seq := range perQueue {
				for !push(qs[qi], qi, seq) {
					runtime.Gosched()
				}
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(hang):
		t.Fatalf("%d of %d packets sent", total.Load(), queues*perQueue)
	}
	for qi, q := range qs {
		if got := q.Stats().Pushed; got != perQueue {
			t.Errorf("queue %d: %d pushed, want %d", qi, got, perQueue)
		}
	}
}

// TestSchedulerClose closes a scheduler while both its drainers are inside
// send and queues hold packets. Close must wait for the drainers to stop,
// send nothing more, and leave Push harmless. Not parallel: the goroutine
// check compares with the goroutines at the test's start.
func TestSchedulerClose(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	var calls, returned atomic.Int32
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	sched := NewScheduler(2, 2, func([]Item[*tag]) {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		returned.Add(1)
	})
	t.Cleanup(sched.Close) // should the test stop early; lets the releaser below end
	qs := []*Queue[*tag]{sched.NewQueue(8), sched.NewQueue(8), sched.NewQueue(8)}
	for qi := range 2 {
		push(qs[qi], qi, 0)
		wait(t, entered, "drainer never entered send")
	}
	for qi, q := range qs {
		for seq := 1; seq < 5; seq++ {
			push(q, qi, seq)
		}
	}
	// Let the drainers return from send only once Close has begun, so
	// that what they find next is a closed scheduler.
	go func() {
		for {
			sched.mu.Lock()
			c := sched.closed
			sched.mu.Unlock()
			if c {
				break
			}
			runtime.Gosched()
		}
		close(release)
	}()
	closed := make(chan struct{})
	go func() {
		sched.Close()
		close(closed)
	}()
	wait(t, closed, "Close did not return")
	if got := returned.Load(); got != 2 {
		t.Errorf("Close returned while %d drainers were inside send", 2-got)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("send called %d times, want only the 2 under way at Close", got)
	}
	goleak.VerifyNone(t, leaks)

	// No drainer is left to take these; Push must still return at once.
	qs = append(qs, sched.NewQueue(1)) // never listed before
	for qi, q := range qs {
		push(q, qi, 5)
		q.Close()
	}
	sched.Close()
	if got := calls.Load(); got != 2 {
		t.Errorf("send called %d times after Close", got)
	}
}
