package worker

import (
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

// Regression tests for bugs found while writing this package's tests.

// ipc.Conn.Send marshals the frame with json.Marshal, which HTML-escapes
// the json.RawMessage inside it: each <, > and & grows to six bytes. A
// message the edge accepted can then exceed MaxMessageSize when the worker
// decodes it again, and the client gets 1002 for a valid message.
func TestHostDecodesWhatTheEdgeAccepted(t *testing.T) {
	t.Parallel()
	// Built by hand: json.Marshal would escape the < itself.
	ids := make([]string, signaling.MaxTrackIDs)
	for i := range ids {
		ids[i] = `"` + strings.Repeat("<", 64) + `"`
	}
	raw := `{"type":"subscribe","id":5,"data":{"trackIds":[` + strings.Join(ids, ",") + `]}}`
	if _, err := signaling.DecodeRequest([]byte(raw)); err != nil {
		t.Fatalf("the edge refuses it already: %v", err)
	}
	join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
		jc.peer.SubscribeFunc = func([]string) error { return nil }
		return nil, nil
	})
	h := newHostHarness(t, join)
	h.joinHost(t, calls, 1)
	h.request(t, 1, raw)
	h.expect(t, 1, signaling.TypeAck, 5)
}
