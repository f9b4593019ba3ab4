package inactive

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// Rewrite returns offer with the a=inactive line of every audio or video
// m-section that is not rejected and whose mid known reports true
// replaced by a=recvonly, and how many it replaced. It changes nothing
// else, byte for byte; what it cannot read it leaves alone.
func Rewrite(offer string, known func(mid string) bool) (string, int) {
	var (
		b       strings.Builder
		n       int
		section []string // lines of the current part, with their endings
	)
	flush := func() {
		if i := inactiveLine(section, known); i >= 0 {
			end := section[i][len(strings.TrimRight(section[i], "\r\n")):]
			section[i] = "a=recvonly" + end
			n++
		}
		for _, l := range section {
			b.WriteString(l)
		}
		section = section[:0]
	}
	b.Grow(len(offer))
	for rest := offer; rest != ""; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if strings.HasPrefix(line, "m=") {
			flush()
		}
		section = append(section, line)
	}
	flush()
	if n == 0 {
		return offer, 0
	}
	return b.String(), n
}

// inactiveLine returns the index of the a=inactive line of an m-section
// to rewrite, or -1: the session part, other kinds of media, rejected
// sections and sections of unknown mids are kept.
func inactiveLine(section []string, known func(string) bool) int {
	if len(section) == 0 {
		return -1
	}
	fields := strings.Fields(section[0])
	if len(fields) < 2 || (fields[0] != "m=audio" && fields[0] != "m=video") || fields[1] == "0" {
		return -1
	}
	at, mid := -1, ""
	for i, l := range section[1:] {
		l = strings.TrimRight(l, "\r\n")
		switch {
		case l == "a=inactive":
			at = i + 1
		case strings.HasPrefix(l, "a=mid:"):
			mid = strings.TrimSpace(l[len("a=mid:"):])
		}
	}
	if at < 0 || mid == "" || !known(mid) {
		return -1
	}
	return at
}

// KnownMids reports the mids of pc's transceivers, as they are when it
// is called: those an offer applied to pc would find.
func KnownMids(pc *webrtc.PeerConnection) func(mid string) bool {
	mids := make(map[string]bool)
	for _, t := range pc.GetTransceivers() {
		if m := t.Mid(); m != "" {
			mids[m] = true
		}
	}
	return func(mid string) bool { return mids[mid] }
}
