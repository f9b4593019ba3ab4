package worker

import (
	"encoding/json"
	"sync"

	"github.com/lethe-rtc/lethe/internal/ipc"
)

// maxOutboxBytes bounds the frames a worker holds for the control process.
// A room filling up can make a burst of events far larger than the control
// process takes in at once (every join announced to every anchor); the
// outbox absorbs it, and only a control process this far behind costs
// sessions their events.
const maxOutboxBytes = 64 << 20

type outFrame struct {
	op   string
	sid  uint64
	data json.RawMessage
}

// outbox is the worker's ordered queue of frames to the control process:
// pushes never block, and one writer sends what has gathered.
type outbox struct {
	max int // bytes

	mu      sync.Mutex
	nonzero sync.Cond
	frames  []outFrame
	bytes   int
	closed  bool
}

func newOutbox(max int) *outbox {
	o := &outbox{max: max}
	o.nonzero.L = &o.mu
	return o
}

// push queues f and reports whether it fit. An OpClosed frame always fits:
// it is small, one per session, and the control process must not lose
// track of a session that ended.
func (o *outbox) push(f outFrame) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || (f.op != ipc.OpClosed && o.bytes+len(f.data) > o.max) {
		return false
	}
	o.frames = append(o.frames, f)
	o.bytes += len(f.data)
	if len(o.frames) == 1 {
		o.nonzero.Signal()
	}
	return true
}

// take waits for frames and returns all of them, oldest first; nil once
// the outbox is closed and empty. spare is reused for the next batch.
func (o *outbox) take(spare []outFrame) []outFrame {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.frames) == 0 && !o.closed {
		o.nonzero.Wait()
	}
	got := o.frames
	o.frames = spare[:0]
	o.bytes = 0
	return got
}

// close makes pushes fail; frames already queued are still taken.
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.nonzero.Broadcast()
}
