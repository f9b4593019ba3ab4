package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/ipc"
)

func frame(op string, sid uint64, n int) outFrame {
	return outFrame{op: op, sid: sid, data: json.RawMessage(make([]byte, n))}
}

// Frames come out in order, all that gathered at once; past the byte
// limit pushes fail, except a session's closed frame, which always fits.
func TestOutboxOrderAndLimit(t *testing.T) {
	t.Parallel()
	o := newOutbox(10)
	for _, f := range []outFrame{frame(ipc.OpMsg, 1, 4), frame(ipc.OpMsg, 2, 6)} {
		if !o.push(f) {
			t.Fatalf("push of %d bytes refused under the limit", len(f.data))
		}
	}
	if o.push(frame(ipc.OpMsg, 3, 1)) {
		t.Fatal("push over the limit accepted")
	}
	if !o.push(frame(ipc.OpClosed, 3, 5)) {
		t.Fatal("a closed frame was refused over the limit")
	}
	got := o.take(nil)
	if len(got) != 3 || got[0].sid != 1 || got[1].sid != 2 || got[2].op != ipc.OpClosed {
		t.Fatalf("took %+v, want sessions 1, 2 and the closed frame of 3, in order", got)
	}
	if !o.push(frame(ipc.OpMsg, 4, 10)) {
		t.Fatal("the limit did not reset once the frames were taken")
	}
}

// take waits for a push; after close it returns what is left, then
// nothing, and pushes fail.
func TestOutboxWaitAndClose(t *testing.T) {
	t.Parallel()
	o := newOutbox(1 << 10)
	took := make(chan []outFrame)
	go func() { took <- o.take(nil) }()
	select {
	case f := <-took:
		t.Fatalf("take returned %+v from an empty outbox", f)
	case <-time.After(20 * time.Millisecond):
	}
	o.push(frame(ipc.OpMsg, 1, 1))
	if f := <-took; len(f) != 1 || f[0].sid != 1 {
		t.Fatalf("took %+v", f)
	}
	o.push(frame(ipc.OpMsg, 2, 1))
	o.close()
	if o.push(frame(ipc.OpClosed, 3, 1)) {
		t.Fatal("push after close accepted")
	}
	if f := o.take(nil); len(f) != 1 || f[0].sid != 2 {
		t.Fatalf("after close took %+v, want the frame queued before", f)
	}
	if f := o.take(nil); len(f) != 0 {
		t.Fatalf("closed and drained, took %+v", f)
	}
}
