package inactive

import (
	"strings"
	"testing"
)

// offer is a subscriber offer as the SFU writes it, in part: a session
// part and three m-sections.
const offer = "v=0\r\n" +
	"o=- 1 2 IN IP4 0.0.0.0\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1 2\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"a=mid:0\r\n" +
	"a=inactive\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
	"a=mid:1\r\n" +
	"a=msid:PA_x TR_y\r\n" +
	"a=sendonly\r\n" +
	"a=ssrc:1 cname:x\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
	"a=inactive\r\n" +
	"a=mid:2\r\n"

func TestRewrite(t *testing.T) {
	t.Parallel()
	all := func(string) bool { return true }
	tests := []struct {
		name  string
		in    string
		known func(string) bool
		want  string
		n     int
	}{
		{"every known inactive section", offer, all,
			strings.Replace(strings.Replace(offer, "a=mid:0\r\na=inactive", "a=mid:0\r\na=recvonly", 1),
				"a=inactive\r\na=mid:2", "a=recvonly\r\na=mid:2", 1), 2},
		{"unknown mids stay", offer, func(mid string) bool { return mid == "2" },
			strings.Replace(offer, "a=inactive\r\na=mid:2", "a=recvonly\r\na=mid:2", 1), 1},
		{"nothing known", offer, func(string) bool { return false }, offer, 0},
		{"LF line endings", "v=0\nm=audio 9 RTP/AVP 0\na=mid:a\na=inactive\n", all,
			"v=0\nm=audio 9 RTP/AVP 0\na=mid:a\na=recvonly\n", 1},
		{"last line without an ending", "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\na=inactive", all,
			"v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\na=recvonly", 1},
		{"rejected section", "v=0\r\nm=video 0 RTP/AVP 96\r\na=mid:0\r\na=inactive\r\n", all,
			"v=0\r\nm=video 0 RTP/AVP 96\r\na=mid:0\r\na=inactive\r\n", 0},
		{"application section", "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\na=inactive\r\n", all,
			"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\na=inactive\r\n", 0},
		{"no mid", "v=0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n", all,
			"v=0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n", 0},
		{"session-level inactive stays", "v=0\r\na=inactive\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n", all,
			"v=0\r\na=inactive\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n", 0},
		{"sendonly stays", "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=sendonly\r\n", all,
			"v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=sendonly\r\n", 0},
		{"empty", "", all, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, n := Rewrite(tc.in, tc.known)
			if got != tc.want || n != tc.n {
				t.Errorf("Rewrite = %q, %d\nwant       %q, %d", got, n, tc.want, tc.n)
			}
		})
	}
}

// FuzzRewrite: Rewrite never panics, changes only a=inactive lines into
// a=recvonly lines, as many as it reports, and is idempotent.
func FuzzRewrite(f *testing.F) {
	f.Add(offer)
	f.Add("m=audio 9\r\na=mid:0\r\na=inactive")
	f.Add("m=\na=inactive\na=mid:\n")
	f.Add("m=video 0\na=mid:0\na=inactive\n")
	f.Add("\n\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		out, n := Rewrite(in, func(mid string) bool { return mid != "x" })
		if len(out) != len(in) {
			t.Fatalf("length changed: %q -> %q", in, out)
		}
		if strings.Count(out, "a=recvonly")-strings.Count(in, "a=recvonly") != n ||
			strings.Count(in, "a=inactive")-strings.Count(out, "a=inactive") != n {
			t.Fatalf("reported %d rewrites: %q -> %q", n, in, out)
		}
		if again, m := Rewrite(out, func(mid string) bool { return mid != "x" }); m != 0 || again != out {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
	})
}
