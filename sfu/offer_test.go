package sfu

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// offerWith is a publisher offer with the given m-sections, each a list
// of lines after its m= line.
func offerWith(session string, sections ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + session)
	for _, s := range sections {
		b.WriteString(s)
	}
	return b.String()
}

func parse(t *testing.T, s string) *sdp.SessionDescription {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		t.Fatal(err)
	}
	return &sd
}

func TestDeclaredSSRCs(t *testing.T) {
	t.Parallel()
	video := func(mid, dir string, ssrcLines ...string) string {
		s := "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:" + mid + "\r\n"
		if dir != "" {
			s += "a=" + dir + "\r\n"
		}
		for _, l := range ssrcLines {
			s += "a=" + l + "\r\n"
		}
		return s
	}
	tests := []struct {
		name    string
		offer   string
		want    []uint32
		wantErr error
	}{
		{"browser video with RTX", offerWith("", video("0", "sendonly",
			"ssrc-group:FID 11 12", "ssrc:11 cname:x", "ssrc:11 msid:s t", "ssrc:12 cname:x", "ssrc:12 msid:s t")),
			[]uint32{0, 11, 12}, nil},
		{"recvonly and inactive sections declare nothing", offerWith("",
			video("0", "recvonly", "ssrc:21 cname:x"), video("1", "inactive", "ssrc:22 cname:x"), video("2", "sendrecv", "ssrc:23 cname:x")),
			[]uint32{0, 23}, nil},
		{"the session's direction when a section has none", offerWith("a=recvonly\r\n", video("0", "", "ssrc:31 cname:x")),
			[]uint32{0}, nil},
		{"no direction at all is sendrecv", offerWith("", video("0", "", "ssrc:31 cname:x")), []uint32{0, 31}, nil},
		{"a section without a mid is not Pion's", offerWith("", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc:41 cname:x\r\n"),
			[]uint32{0}, nil},
		{"bad numbers are skipped, as Pion does", offerWith("", video("0", "sendonly", "ssrc:x cname:x", "ssrc:99999999999 cname:x", "ssrc:5")),
			[]uint32{0, 5}, nil},
		{"four SSRCs in a section", offerWith("", video("0", "sendonly", "ssrc-group:FID 1 2", "ssrc-group:FEC-FR 1 3", "ssrc:4 cname:x")),
			[]uint32{0, 1, 2, 3, 4}, nil},
		{"five SSRCs in a section (legacy simulcast)", offerWith("", video("0", "sendonly",
			"ssrc-group:SIM 1 2 3", "ssrc-group:FID 1 4", "ssrc-group:FID 2 5")), nil, ErrNotAllowed},
		{"more than the total", offerWith("", video("0", "sendonly", "ssrc:1", "ssrc:2", "ssrc:3"),
			video("1", "sendonly", "ssrc:4", "ssrc:5", "ssrc:6")), nil, ErrNotAllowed},
		{"audio and application", offerWith("",
			"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=sendonly\r\na=ssrc:7 cname:x\r\n",
			"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\na=ssrc:8 cname:x\r\n"),
			[]uint32{0, 7}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := declaredSSRCs(parse(t, tc.offer), 5)
			if !errors.Is(err, tc.wantErr) || !slices.Equal(got, tc.want) {
				t.Errorf("declaredSSRCs = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
