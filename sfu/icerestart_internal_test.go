package sfu

import (
	"testing"
	"time"

	"github.com/pion/sdp/v3"
)

func TestRestartBudget(t *testing.T) {
	const limit, window = 3, time.Minute
	clock := newFakeClock()
	var b restartBudget
	for _, step := range []struct {
		advance time.Duration
		want    bool
	}{
		{0, true}, {time.Second, true}, {time.Second, true}, // three within a window
		{time.Second, false}, {50 * time.Second, false}, // the window still holds them
		{7 * time.Second, true},  // 59+1 s: the first has left the window
		{time.Second, true},      // and the second
		{0, false},               // the third has not
		{time.Second, true},      // now it has
		{10 * time.Minute, true}, // all gone
		{0, true}, {0, true},     // three at the same instant
		{0, false}, // but no fourth
	} {
		clock.Advance(step.advance)
		if got := b.take(clock.Now(), limit, window); got != step.want {
			t.Fatalf("after %v more: take = %v, want %v (%d in the window)", step.advance, got, step.want, len(b.at))
		}
	}
	if len(b.at) != limit {
		t.Errorf("the budget keeps %d times, want %d: old ones must go", len(b.at), limit)
	}
}

func TestICECredentials(t *testing.T) {
	for _, tc := range []struct {
		name, sdp  string
		ufrag, pwd string
	}{
		{"session level", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:sess\r\na=ice-pwd:sesspwd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:media\r\na=ice-pwd:mediapwd\r\n", "sess", "sesspwd"},
		{"first m-section that has them", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:second\r\na=ice-pwd:secondpwd\r\n", "second", "secondpwd"},
		{"none", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(tc.sdp); err != nil {
				t.Fatal(err)
			}
			if u, p := iceCredentials(&sd); u != tc.ufrag || p != tc.pwd {
				t.Errorf("iceCredentials = %q, %q; want %q, %q", u, p, tc.ufrag, tc.pwd)
			}
		})
	}
}
