package control

import (
	"context"
	"errors"
	"time"

	"github.com/lethe-rtc/lethe/signaling"
)

// ErrDraining is the readiness check's answer while the server drains.
var ErrDraining = errors.New("control: draining")

// DrainEnd says how DrainThenEnd ended.
type DrainEnd int

const (
	// DrainEmptied: every room emptied before the timeout.
	DrainEmptied DrainEnd = iota
	// DrainTimedOut: the timeout came first; those still in rooms were
	// told to reconnect (bye 3003).
	DrainTimedOut
	// DrainCut: stopNow came first; everyone got bye 3002.
	DrainCut
)

func (e DrainEnd) String() string {
	switch e {
	case DrainEmptied:
		return "every room emptied"
	case DrainTimedOut:
		return "drain timeout"
	}
	return "stopped at once"
}

// Ready is the signaling edge's readiness check: ErrDraining once Drain
// was called.
func (s *Server) Ready(context.Context) error {
	if s.Draining() {
		return ErrDraining
	}
	return nil
}

// Participants counts those admitted to a room.
func (s *Server) Participants() int {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	n := 0
	for _, room := range s.reg.rooms {
		n += len(room)
	}
	return n
}

// DrainThenEnd drains the server (Drain) until every room has emptied or
// timeout fires, and then ends every connection with bye 3003, "server
// going away, reconnect" (GoAway). Should stopNow be closed first, it
// ends them with bye 3002 (Shutdown) instead. ctx bounds the wait for the
// connections to close; its error is returned.
func (s *Server) DrainThenEnd(ctx context.Context, timeout <-chan time.Time, stopNow <-chan struct{}) (DrainEnd, error) {
	end := DrainEmptied
	select {
	case <-s.Drain():
	case <-timeout:
		end = DrainTimedOut
	case <-stopNow:
		end = DrainCut
	}
	code := signaling.CodeGoingAway
	if end == DrainCut {
		code = signaling.CodeShuttingDown
	}
	return end, s.end(ctx, code)
}
