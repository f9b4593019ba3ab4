package control

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/signaling"
)

// The join latency is reported once per join, when its joined goes back.
func TestServerJoinLatency(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		times []time.Duration
	)
	h := newHarness(t, func(c *ServerConfig) {
		c.JoinLatency = func(d time.Duration) {
			mu.Lock()
			times = append(times, d)
			mu.Unlock()
		}
	})
	ws, op := h.joined(t)
	other, err := signaling.Encode(signaling.TypeParticipantJoined, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	op.sink.Deliver(other) // not the joined: nothing yet
	joined, err := signaling.Encode(signaling.TypeJoined, 1, signaling.Joined{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(joined, joinedPrefix) {
		t.Fatalf("a joined message starts %q, not %q", joined[:min(len(joined), 20)], joinedPrefix)
	}
	op.sink.Deliver(joined)
	op.sink.Deliver(joined) // a second one is no second join
	expectType(t, ws, signaling.TypeParticipantJoined, 0)
	expectType(t, ws, signaling.TypeJoined, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 1 || times[0] < 0 {
		t.Fatalf("join latencies %v, want one", times)
	}
}
