package control

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFrag(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		ufrag     string
		cands     int
		mid0, end bool
		err       error
	}{
		{name: "trickle", in: "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n",
			ufrag: "abcd", cands: 1, mid0: true},
		{name: "end only", in: "a=end-of-candidates\n", end: true},
		{name: "no section", in: "a=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n", cands: 1},
		{name: "empty", in: ""},
		{name: "not sdp", in: "hello", err: errBadFrag},
		{name: "ufrag without pwd", in: "a=ice-ufrag:abcd\r\n", err: errBadFrag},
		{name: "line too long", in: "a=candidate:" + strings.Repeat("x", maxFragLine), err: errBadFrag},
		{name: "too many candidates", in: strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n", maxFragCandidates+1), err: errBadFrag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFrag(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if f.ufrag != tc.ufrag || len(f.candidates) != tc.cands || f.end != tc.end {
				t.Fatalf("got %+v", f)
			}
			if tc.mid0 && (f.candidates[0].SDPMid == nil || *f.candidates[0].SDPMid != "0") {
				t.Fatalf("candidate without its mid")
			}
		})
	}
}

func TestWithCandidates(t *testing.T) {
	answer := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
	got := withCandidates(answer, []string{"candidate:1 1 udp 1 127.0.0.1 5000 typ host"})
	want := "a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\nm=video"
	if !strings.Contains(got, want) {
		t.Fatalf("got %q", got)
	}
	frag := answerFrag(got)
	if !strings.Contains(frag, "a=candidate:1 1 udp") || strings.Contains(frag, "m=video") {
		t.Fatalf("answerFrag: %q", frag)
	}
	offer := "v=0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\na=candidate:x\r\nm=audio 9 X 0\r\n"
	if r := withICE(offer, "new", "newpwd"); !strings.Contains(r, "a=ice-ufrag:new\r\na=ice-pwd:newpwd\r\n") || strings.Contains(r, "candidate") {
		t.Fatalf("withICE: %q", r)
	}
}

func FuzzParseFrag(f *testing.F) {
	for _, s := range []string{"", "a=ice-ufrag:a\na=ice-pwd:b\n", "m=audio 9 X 0\na=mid:0\na=candidate:1 1 udp 1 1.2.3.4 1 typ host\n", "x", "a=\n", "\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fr, err := parseFrag(s)
		if err != nil {
			return
		}
		if len(fr.candidates) > maxFragCandidates || (fr.ufrag == "") != (fr.pwd == "") {
			t.Fatalf("accepted %+v", fr)
		}
	})
}
