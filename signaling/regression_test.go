package signaling

import (
	"errors"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/sfu"
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
		code Code
	}{
		{"binary", websocket.BinaryMessage, `{"type":"ping"}`, CodeBadMessage},
		{"oversized", websocket.TextMessage, strings.Repeat("x", MaxMessageSize+1), CodeTooLarge},
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
			expectError(t, ws, 0, CodeRateLimited)
			expectBye(t, ws, CodeRateLimited)
			expectClosed(t, ws)
		})
	}
}

// ipc.Conn.Send marshals the frame with json.Marshal, which HTML-escapes
// the json.RawMessage inside it: each <, > and & grows to six bytes. A
// message the edge accepted can then exceed MaxMessageSize when the worker
// decodes it again, and the client gets 1002 for a valid message.
func TestHostDecodesWhatTheEdgeAccepted(t *testing.T) {
	t.Parallel()
	// Built by hand: json.Marshal would escape the < itself.
	ids := make([]string, MaxTrackIDs)
	for i := range ids {
		ids[i] = `"` + strings.Repeat("<", 64) + `"`
	}
	raw := `{"type":"subscribe","id":5,"data":{"trackIds":[` + strings.Join(ids, ",") + `]}}`
	if _, err := DecodeRequest([]byte(raw)); err != nil {
		t.Fatalf("the edge refuses it already: %v", err)
	}
	join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
		jc.peer.SubscribeFunc = func([]string) error { return nil }
		return nil, nil
	})
	h := newHostHarness(t, join)
	h.joinHost(t, calls, 1)
	h.request(t, 1, raw)
	h.expect(t, 1, TypeAck, 5)
}

// A token whose role claim is "audience" is refused as an anchor at join,
// but the same connection can then become an anchor by switchRole without
// any fresh privateMapKey: the role claim is not remembered.
func TestServerSwitchRoleKeepsTokenRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws := h.joinAs(t, "alice", "good-audience-"+secret, func(d map[string]any) { d["role"] = "audience" })
	op := h.nextOpen(t)
	send(t, ws, msg(TypeSwitchRole, 7, SwitchRole{Role: RoleAnchor}))
	expectError(t, ws, 7, CodeNoPrivilege)
	noControl(t, op)
}

// validName is documented as "printable characters" but lets through
// invisible format characters (bidi overrides, zero-width ones, BOM), with
// which one user id can pose as another in a room's participant list.
func TestDecodeRequestRefusesInvisibleNames(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"alice\u202egnp.exe", "al\u200bice", "\ufeffalice", "a\u2066b", "a\u00adb"} {
		t.Run(id, func(t *testing.T) {
			_, err := DecodeRequest([]byte(msg(TypeJoin, 1, joinData(func(d map[string]any) { d["userId"] = id }))))
			var ce *CodedError
			if !errors.As(err, &ce) || ce.Code != CodeInvalidField {
				t.Fatalf("userId %+q: %v, want 1004", id, err)
			}
		})
	}
}
