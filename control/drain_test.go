package control

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/signaling"
)

// A drain refuses new joins with 3004 and leaves those in rooms alone;
// GoAway then tells them 3003 and closes every connection.
func TestServerDrain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws1, op1 := h.joined(t)
	ws2 := h.dial(t, nil)
	send(t, ws2, joinMsg(1, func(d map[string]any) { d["roomId"] = 2 }))
	op2 := h.nextOpen(t)
	idle := h.dial(t, nil)
	for _, ws := range []*websocket.Conn{ws1, ws2, idle} {
		expectAlive(t, ws, 9)
	}

	for range 2 { // the two joins so far
		<-h.wants
	}

	emptied := h.srv.Drain()
	if !h.srv.Draining() {
		t.Fatal("Draining false after Drain")
	}
	if again := h.srv.Drain(); again != emptied {
		t.Error("a second Drain returned another channel")
	}
	select {
	case <-emptied:
		t.Fatal("emptied with two rooms still in use")
	default:
	}

	// A new join is refused, before its tokens are even looked at.
	send(t, idle, joinMsg(3, nil))
	if e := expectError(t, idle, 3, signaling.CodeDraining); e.Message == "" {
		t.Error("the draining error says nothing")
	}
	expectBye(t, idle, signaling.CodeDraining)
	expectClosed(t, idle)
	h.noOpen(t)
	select {
	case w := <-h.wants:
		t.Errorf("a join while draining reached the verifier: %+v", w)
	default:
	}

	// Those in rooms carry on: their messages still reach the worker.
	send(t, ws1, msg(signaling.TypeMute, 4, signaling.Mute{TrackID: "t1", Muted: true}))
	select {
	case raw := <-op1.sent:
		if env, err := signaling.DecodeRequest(raw); err != nil || env.Type != signaling.TypeMute {
			t.Fatalf("relayed %q (%v)", raw, err)
		}
	case <-time.After(wait):
		t.Fatal("a joined participant's message did not reach the worker while draining")
	}
	expectAlive(t, ws2, 5)

	// The first room empties; the second is still in use.
	_ = ws1.Close()
	<-op1.closed
	select {
	case <-emptied:
		t.Fatal("emptied while room 2 is in use")
	default:
	}

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		errc <- h.srv.GoAway(ctx)
	}()
	expectBye(t, ws2, signaling.CodeGoingAway)
	expectClosed(t, ws2)
	if err := <-errc; err != nil {
		t.Fatalf("GoAway: %v", err)
	}
	<-op2.closed
	select {
	case <-emptied:
	case <-time.After(wait):
		t.Fatal("not emptied after GoAway")
	}
	_, resp, err := websocket.DefaultDialer.Dial(h.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after GoAway: %v, %v; want 503", resp, err)
	}
	_ = resp.Body.Close()
}

// A drain of a server without participants is over at once; one whose
// last participant leaves is over then.
func TestServerDrainEmpties(t *testing.T) {
	t.Parallel()
	t.Run("nobody in", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil)
		idle := h.dial(t, nil) // connected, not joined: in no room
		expectAlive(t, idle, 1)
		select {
		case <-h.srv.Drain():
		case <-time.After(wait):
			t.Fatal("a drain without participants is not over")
		}
	})
	t.Run("last one leaves", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil)
		ws, op := h.joined(t)
		emptied := h.srv.Drain()
		_ = ws.Close()
		<-op.closed
		select {
		case <-emptied:
		case <-time.After(wait):
			t.Fatal("the room emptied, the drain is not over")
		}
	})
}

// The registry itself refuses an admission once draining: a join whose
// tokens were checked before the drain began is refused at admission.
func TestRegistryDrainRefusesAdmission(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	m := &member{c: &conn{}, key: "k", privileges: auth.PrivAll}
	if _, err := r.admit(m, Limits{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	emptied := r.drain()
	m2 := &member{c: &conn{key: "k"}, key: "k", privileges: auth.PrivAll}
	var ce *signaling.CodedError
	if _, err := r.admit(m2, Limits{}, time.Now()); !errors.As(err, &ce) || ce.Code != signaling.CodeDraining {
		t.Fatalf("admit while draining: %v", err)
	}
	m.c.key = "k"
	r.leave(m.c)
	select {
	case <-emptied:
	default:
		t.Fatal("the last leave did not end the drain")
	}
}

// DrainThenEnd ends on whichever comes first: the rooms emptying, the
// timeout (bye 3003) or a stop at once (bye 3002).
func TestServerDrainThenEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		fire func(ws *websocket.Conn, op *opened, timeout chan time.Time, now chan struct{})
		end  DrainEnd
		bye  signaling.Code // of a participant still there; 0: none left
	}{
		{"emptied", func(ws *websocket.Conn, op *opened, _ chan time.Time, _ chan struct{}) { _ = ws.Close(); <-op.closed }, DrainEmptied, 0},
		{"timeout", func(_ *websocket.Conn, _ *opened, timeout chan time.Time, _ chan struct{}) { timeout <- time.Now() }, DrainTimedOut, signaling.CodeGoingAway},
		{"stop now", func(_ *websocket.Conn, _ *opened, _ chan time.Time, now chan struct{}) { close(now) }, DrainCut, signaling.CodeShuttingDown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			ws, op := h.joined(t)
			expectAlive(t, ws, 2)
			timeout, now := make(chan time.Time, 1), make(chan struct{})
			type result struct {
				end DrainEnd
				err error
			}
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				end, err := h.srv.DrainThenEnd(ctx, timeout, now)
				done <- result{end, err}
			}()
			for !h.srv.Draining() {
				time.Sleep(time.Millisecond)
			}
			if err := h.srv.Ready(context.Background()); !errors.Is(err, ErrDraining) {
				t.Errorf("Ready while draining: %v", err)
			}
			tt.fire(ws, op, timeout, now)
			if tt.bye != 0 {
				expectBye(t, ws, tt.bye)
				expectClosed(t, ws)
			}
			r := <-done
			if r.end != tt.end || r.err != nil {
				t.Errorf("DrainThenEnd = %v, %v; want %v", r.end, r.err, tt.end)
			}
		})
	}
}
