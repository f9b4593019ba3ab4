package sfu

import (
	"maps"
	"testing"

	"github.com/pion/webrtc/v4"
)

// TestAnsweredDirections: the direction of each answered m-section, read
// as Pion reads it to decide which transceiver AddTrack may reuse.
func TestAnsweredDirections(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
	const video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
	for _, tc := range []struct {
		name string
		sdp  string // "" for no answer
		want map[string]webrtc.RTPTransceiverDirection
	}{
		{"no answer", "", map[string]webrtc.RTPTransceiverDirection{}},
		{"unparsable", "not sdp", map[string]webrtc.RTPTransceiverDirection{}},
		{"media level", head + audio + "a=mid:0\r\na=recvonly\r\n" + video + "a=mid:1\r\na=inactive\r\n",
			map[string]webrtc.RTPTransceiverDirection{"0": webrtc.RTPTransceiverDirectionRecvonly, "1": webrtc.RTPTransceiverDirectionInactive}},
		{"session level", head + "a=inactive\r\n" + audio + "a=mid:0\r\n" + video + "a=mid:1\r\na=recvonly\r\n",
			map[string]webrtc.RTPTransceiverDirection{"0": webrtc.RTPTransceiverDirectionInactive, "1": webrtc.RTPTransceiverDirectionRecvonly}},
		{"none: sendrecv", head + audio + "a=mid:0\r\n",
			map[string]webrtc.RTPTransceiverDirection{"0": webrtc.RTPTransceiverDirectionSendrecv}},
		{"no mid", head + audio + "a=recvonly\r\n" + video + "a=mid:v\r\na=inactive\r\n",
			map[string]webrtc.RTPTransceiverDirection{"v": webrtc.RTPTransceiverDirectionInactive}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var answer *webrtc.SessionDescription
			if tc.sdp != "" {
				answer = &webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: tc.sdp}
			}
			if got := answeredDirections(answer); !maps.Equal(got, tc.want) {
				t.Errorf("answeredDirections = %v, want %v", got, tc.want)
			}
		})
	}
}
