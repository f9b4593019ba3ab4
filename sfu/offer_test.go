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

func TestCheckICECredentials(t *testing.T) {
	t.Parallel()
	pwd := strings.Repeat("p", 22)
	tests := []struct {
		name    string
		session string
		media   string
		ok      bool
	}{
		{"browser-like", "", "a=ice-ufrag:Ab1+\r\na=ice-pwd:" + pwd + "\r\n", true},
		{"at session level", "a=ice-ufrag:abcd\r\na=ice-pwd:" + pwd + "\r\n", "", true},
		{"the longest", "", "a=ice-ufrag:" + strings.Repeat("u", 256) + "\r\na=ice-pwd:" + strings.Repeat("/", 256) + "\r\n", true},
		{"none (Pion decides)", "", "", true},
		{"ufrag of 3", "", "a=ice-ufrag:abc\r\na=ice-pwd:" + pwd + "\r\n", false},
		{"ufrag of 257", "", "a=ice-ufrag:" + strings.Repeat("u", 257) + "\r\na=ice-pwd:" + pwd + "\r\n", false},
		{"empty ufrag", "", "a=ice-ufrag:\r\na=ice-pwd:" + pwd + "\r\n", false},
		{"ufrag with a dash", "", "a=ice-ufrag:ab-cd\r\na=ice-pwd:" + pwd + "\r\n", false},
		{"pwd of 21", "", "a=ice-ufrag:abcd\r\na=ice-pwd:" + pwd[1:] + "\r\n", false},
		{"pwd of 257", "", "a=ice-ufrag:abcd\r\na=ice-pwd:" + strings.Repeat("p", 257) + "\r\n", false},
		{"pwd with a space", "", "a=ice-ufrag:abcd\r\na=ice-pwd:" + pwd + " x\r\n", false},
		{"a bad one at session level", "a=ice-pwd:short\r\n", "a=ice-ufrag:abcd\r\na=ice-pwd:" + pwd + "\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			offer := offerWith(tc.session, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"+tc.media)
			err := checkICECredentials(parse(t, offer))
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrBadSDP) {
				t.Errorf("checkICECredentials = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// A Chrome-like video section: VP8, and H.264 in four profiles, each
// with RTX.
const chromeVideo = "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:1\r\n" +
	"a=sendonly\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n" +
	"a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n" +
	"a=rtpmap:104 H264/90000\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n" +
	"a=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\n" +
	"a=rtpmap:106 H264/90000\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42E01F\r\n" +
	"a=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\n" +
	"a=rtpmap:108 h264/90000\r\na=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032\r\n" +
	"a=rtpmap:109 H264/90000\r\na=fmtp:109 profile-level-id=4d001f; packetization-mode=1\r\n"

func TestRefuseUnsupported(t *testing.T) {
	t.Parallel()
	audio := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n"
	data := "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n"
	wantVideo := strings.NewReplacer(
		"a=rtpmap:104 H264/90000", "a=rtpmap:104 "+refusedCodec+"/90000",
		"a=rtpmap:108 h264/90000", "a=rtpmap:108 "+refusedCodec+"/90000",
		"a=rtpmap:109 H264/90000", "a=rtpmap:109 "+refusedCodec+"/90000",
	).Replace(chromeVideo)
	tests := []struct {
		name, in, want string
		rejected       int
	}{
		{"nothing to do", offerWith("a=group:BUNDLE 0\r\n", audio), offerWith("a=group:BUNDLE 0\r\n", audio), 0},
		{"H.264 profiles", offerWith("a=group:BUNDLE 0 1\r\n", audio, chromeVideo),
			offerWith("a=group:BUNDLE 0 1\r\n", audio, wantVideo), 0},
		{"data channel", offerWith("a=group:BUNDLE 0 2\r\n", audio, data),
			offerWith("a=group:BUNDLE 0\r\n", audio, strings.Replace(data, "m=application 9", "m=application 0", 1)), 1},
		{"data channel first, bundle-only", offerWith("a=group:BUNDLE 2 0\r\n", data+"a=bundle-only\r\n", audio),
			offerWith("a=group:BUNDLE 0\r\n", strings.Replace(data, "m=application 9", "m=application 0", 1), audio), 1},
		{"only a data channel", offerWith("a=group:BUNDLE 2\r\n", data),
			offerWith("", strings.Replace(data, "m=application 9", "m=application 0", 1)), 1},
		{"a data channel rejected already", offerWith("", strings.Replace(data, "m=application 9", "m=application 0", 1)),
			offerWith("", strings.Replace(data, "m=application 9", "m=application 0", 1)), 0},
		{"LF line endings", "v=0\na=group:BUNDLE d a\nm=application 9  DTLS/SCTP 5000\na=mid:d\nm=audio 9 RTP/AVP 0\na=mid:a",
			"v=0\na=group:BUNDLE a\nm=application 0  DTLS/SCTP 5000\na=mid:d\nm=audio 9 RTP/AVP 0\na=mid:a", 1},
		{"empty", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, n := refuseUnsupported(tc.in)
			if got != tc.want || n != tc.rejected {
				t.Errorf("refuseUnsupported =\n%q, %d\nwant\n%q, %d", got, n, tc.want, tc.rejected)
			}
		})
	}
}

func TestH264Accepted(t *testing.T) {
	t.Parallel()
	for params, want := range map[string]bool{
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f": true,
		"packetization-mode=1;profile-level-id=42e01f":                           true,
		"profile-level-id=42E034; packetization-mode=1":                          true, // the level is not compared
		"packetization-mode=1;profile-level-id=640032":                           false,
		"packetization-mode=1;profile-level-id=4d001f":                           false,
		"packetization-mode=1;profile-level-id=42c01f":                           false,
		"packetization-mode=0;profile-level-id=42e01f":                           false,
		"profile-level-id=42e01f":                                                false,
		"packetization-mode=1":                                                   false,
		"packetization-mode=1;profile-level-id=42e":                              false,
		"packetization-mode=1;profile-level-id=zz":                               false,
		"": false,
	} {
		if got := h264Accepted(params); got != want {
			t.Errorf("h264Accepted(%q) = %v, want %v", params, got, want)
		}
	}
}

// FuzzRefuseUnsupported: never panics, is idempotent, and changes only
// m=application, a=rtpmap, a=group:BUNDLE and a=bundle-only lines.
func FuzzRefuseUnsupported(f *testing.F) {
	f.Add(offerWith("a=group:BUNDLE 0 1 2\r\n", chromeVideo,
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=bundle-only\r\n"))
	f.Add("m=application\nm=application 9\na=group:BUNDLE\na=mid:")
	f.Add("m=video 9\na=rtpmap:96 H264\na=rtpmap:97 h264/\na=fmtp:97")
	f.Add("\r\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		out, _ := refuseUnsupported(in)
		if again, n := refuseUnsupported(out); again != out || n != 0 {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		kept := func(s string) []string {
			var ls []string
			for _, l := range strings.SplitAfter(s, "\n") {
				if !strings.HasPrefix(l, "m=application") && !strings.HasPrefix(l, "a=rtpmap:") &&
					!strings.HasPrefix(l, "a=group:BUNDLE") && strings.TrimRight(l, "\r\n") != "a=bundle-only" {
					ls = append(ls, l)
				}
			}
			return ls
		}
		if !slices.Equal(kept(in), kept(out)) {
			t.Fatalf("other lines changed: %q -> %q", in, out)
		}
	})
}

func TestLimitAnswer(t *testing.T) {
	t.Parallel()
	answer := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\n"
	want := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\nb=AS:8000\r\nb=TIAS:8000000\r\na=mid:0\r\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nb=AS:8000\r\nb=TIAS:8000000\r\na=mid:3\r\n"
	if got := limitAnswer(answer, 8_000_000); got != want {
		t.Errorf("limitAnswer =\n%q\nwant\n%q", got, want)
	}
	if got := limitAnswer(answer, 0); got != answer {
		t.Error("no limit changed the answer")
	}
	if got := limitAnswer("m=video 9 X 96", 500); got != "m=video 9 X 96\r\nb=AS:1\r\nb=TIAS:500\r\n" {
		t.Errorf("a last line without an ending: %q", got)
	}
	parse(t, limitAnswer(answer, 1_234_567)) // still SDP
}
