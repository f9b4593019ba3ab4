package worker

import (
	"testing"

	"github.com/lethe-rtc/lethe/sfu"
)

// TestSpeakersCache: one list is encoded once for every session; a new
// list, even with the same content, again; every empty list alike.
func TestSpeakersCache(t *testing.T) {
	t.Parallel()
	var c speakersCache
	a := []sfu.Speaker{{ParticipantID: "PA_a", Level: 0.76}}
	r1, err := c.encode(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"speakers","data":{"speakers":[{"participantId":"PA_a","level":0.76}]}}`; string(r1) != want {
		t.Fatalf("encoded %s, want %s", r1, want)
	}
	r2, _ := c.encode(a)
	if &r1[0] != &r2[0] {
		t.Fatal("the same list was encoded twice")
	}
	b := []sfu.Speaker{{ParticipantID: "PA_b", Level: 0.5}}
	if r3, _ := c.encode(b); string(r3) == string(r1) {
		t.Fatalf("a new list came out as the old one: %s", r3)
	}
	e1, _ := c.encode(nil)
	e2, _ := c.encode([]sfu.Speaker{})
	if want := `{"type":"speakers","data":{"speakers":[]}}`; string(e1) != want || string(e2) != want {
		t.Fatalf("empty lists: %s, %s; want %s", e1, e2, want)
	}
}
