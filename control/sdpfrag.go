package control

import (
	"errors"
	"strings"

	"github.com/pion/webrtc/v4"
)

// errBadFrag: a PATCH body that is not an SDP fragment (RFC 8840) we read.
var errBadFrag = errors.New("control: malformed trickle-ice-sdpfrag")

// Caps of one SDP fragment.
const (
	maxFragCandidates = 64
	maxFragLine       = 1024
)

// sdpFrag is what a WHIP/WHEP PATCH body (application/trickle-ice-sdpfrag,
// RFC 8840) carries: the ICE credentials, if any, and the candidates, each
// with the mid of the m-section it follows.
type sdpFrag struct {
	ufrag, pwd string
	candidates []webrtc.ICECandidateInit
	end        bool // a=end-of-candidates
}

// parseFrag reads an SDP fragment. Lines it does not know are ignored, as
// RFC 8840 allows; a candidate before any m-section's a=mid belongs to the
// first (mid-less) section, index 0.
func parseFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	mid, index := "", -1
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if len(line) > maxFragLine || len(line) < 2 || line[1] != '=' {
			return sdpFrag{}, errBadFrag
		}
		switch {
		case strings.HasPrefix(line, "m="):
			index++
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = line[len("a=mid:"):]
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = line[len("a=ice-ufrag:"):]
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = line[len("a=ice-pwd:"):]
		case strings.HasPrefix(line, "a=end-of-candidates"):
			f.end = true
		case strings.HasPrefix(line, "a=candidate:"):
			if len(f.candidates) == maxFragCandidates {
				return sdpFrag{}, errBadFrag
			}
			c := webrtc.ICECandidateInit{Candidate: line[len("a="):]}
			if mid != "" {
				c.SDPMid = &mid
			}
			i := uint16(max(index, 0))
			c.SDPMLineIndex = &i
			f.candidates = append(f.candidates, c)
		}
	}
	if (f.ufrag == "") != (f.pwd == "") {
		return sdpFrag{}, errBadFrag
	}
	return f, nil
}

// answerFrag is the fragment that answers an ICE restart: the server's new
// credentials and its candidates, taken from its answer SDP.
func answerFrag(answer string) string {
	var b strings.Builder
	mids := 0
	for line := range strings.SplitSeq(answer, "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"), strings.HasPrefix(line, "a=ice-pwd:"), strings.HasPrefix(line, "a=ice-options:"):
			if mids <= 1 {
				b.WriteString(line + "\r\n")
			}
		case strings.HasPrefix(line, "m="):
			mids++
			if mids == 1 {
				b.WriteString(line + "\r\n")
			}
		case strings.HasPrefix(line, "a=mid:") && mids == 1:
			b.WriteString(line + "\r\n")
		case strings.HasPrefix(line, "a=candidate:") && mids == 1:
			b.WriteString(line + "\r\n")
		}
	}
	return b.String()
}

// withCandidates puts candidates into the first m-section of sdp (the one
// a BUNDLE group's transport is on), each as an a=candidate line, and ends
// them with a=end-of-candidates: a WHIP client does not expect the server
// to trickle.
func withCandidates(sdp string, cands []string) string {
	lines := strings.Split(strings.TrimRight(sdp, "\r\n"), "\r\n")
	var out []string
	section, inserted := 0, false
	insert := func() {
		for _, c := range cands {
			out = append(out, "a="+strings.TrimPrefix(c, "a="))
		}
		out = append(out, "a=end-of-candidates")
		inserted = true
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			section++
			if section == 2 && !inserted {
				insert()
			}
		}
		if strings.HasPrefix(l, "a=end-of-candidates") {
			continue
		}
		out = append(out, l)
	}
	if !inserted && section >= 1 {
		insert()
	}
	return strings.Join(out, "\r\n") + "\r\n"
}
