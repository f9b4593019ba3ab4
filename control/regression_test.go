package control

import (
	"github.com/lethe-rtc/lethe/signaling"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// Regression tests for bugs found while writing this package's tests.

// Oversized and binary frames skip the rate limiter, so a client can send
// them without end and is answered each time. They should count.
func TestServerRateLimitCountsEveryFrame(t *testing.T) {
	t.Parallel()
	const burst = 3
	for _, tt := range []struct {
		name string
		kind int
		raw  string
		code signaling.Code
	}{
		{"binary", websocket.BinaryMessage, `{"type":"ping"}`, signaling.CodeBadMessage},
		{"oversized", websocket.TextMessage, strings.Repeat("x", signaling.MaxMessageSize+1), signaling.CodeTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *ServerConfig) { c.RateLimit, c.RateBurst = 1e-3, burst })
			ws := h.dial(t, nil)
			for range burst {
				if err := ws.WriteMessage(tt.kind, []byte(tt.raw)); err != nil {
					t.Fatal(err)
				}
			}
			for range burst {
				expectError(t, ws, 0, tt.code)
			}
			// The burst is spent on those frames: the next message, however
			// small, is one too many.
			if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
				t.Fatal(err)
			}
			expectError(t, ws, 0, signaling.CodeRateLimited)
			expectBye(t, ws, signaling.CodeRateLimited)
			expectClosed(t, ws)
		})
	}
}

// A token whose role claim is "audience" is refused as an anchor at join,
// but the same connection can then become an anchor by switchRole without
// any fresh privateMapKey: the role claim is not remembered.
func TestServerSwitchRoleKeepsTokenRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws := h.joinAs(t, "alice", "good-audience-"+secret, func(d map[string]any) { d["role"] = "audience" })
	op := h.nextOpen(t)
	send(t, ws, msg(signaling.TypeSwitchRole, 7, signaling.SwitchRole{Role: signaling.RoleAnchor}))
	expectError(t, ws, 7, signaling.CodeNoPrivilege)
	noControl(t, op)
}
