package sfu

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// What a publisher's offer may declare, beyond what Pion checks: see
// docs/protocol.md 3.9.
const (
	// maxSectionSSRCs bounds the SSRCs of one sending m-section: the
	// media, its RTX and FEC flows, and one to spare;
	// maxSimulcastSSRCs one with a=simulcast: each layer and its RTX, and
	// two to spare.
	maxSectionSSRCs   = 4
	maxSimulcastSSRCs = 2*maxLayers + 2
	// refusedCodec is the encoding name given to an H.264 format the SFU
	// does not take, so that Pion matches nothing to it.
	refusedCodec = "x-lethe-refused"
)

// RFC 8839 section 5.4: an ICE username fragment is 4 to 256 ice-chars, a
// password 22 to 256.
const (
	minUfrag, maxUfrag = 4, 256
	minPwd, maxPwd     = 22, 256
)

// checkICECredentials refuses an SDP whose ICE username fragment or
// password, at session or media level, is not what RFC 8839 allows.
func checkICECredentials(sd *sdp.SessionDescription) error {
	check := func(attrs []sdp.Attribute) error {
		for _, a := range attrs {
			lo, hi := 0, 0
			switch a.Key {
			case "ice-ufrag":
				lo, hi = minUfrag, maxUfrag
			case "ice-pwd":
				lo, hi = minPwd, maxPwd
			default:
				continue
			}
			if len(a.Value) < lo || len(a.Value) > hi || strings.IndexFunc(a.Value, notICEChar) >= 0 {
				return fmt.Errorf("%w: a=%s must be %d to %d characters of A-Z, a-z, 0-9, + and / (RFC 8839)",
					ErrBadSDP, a.Key, lo, hi)
			}
		}
		return nil
	}
	if err := check(sd.Attributes); err != nil {
		return err
	}
	for _, m := range sd.MediaDescriptions {
		if err := check(m.Attributes); err != nil {
			return err
		}
	}
	return nil
}

func notICEChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/')
}

// sending reports whether Pion takes m as sending media toward it: an
// audio or video m-section with a mid whose direction, or else the
// session's, is neither recvonly nor inactive (Pion's trackDetailsFromSDP).
func sending(sd *sdp.SessionDescription, m *sdp.MediaDescription) bool {
	if k := m.MediaName.Media; k != "audio" && k != "video" {
		return false
	}
	if mid, _ := m.Attribute("mid"); mid == "" {
		return false
	}
	dir := func(attrs []sdp.Attribute) string {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return a.Key
			}
		}
		return ""
	}
	d := dir(m.Attributes)
	if d == "" {
		d = dir(sd.Attributes)
	}
	return d != "recvonly" && d != "inactive"
}

// declaredSSRCs returns the SSRCs the sending m-sections of an offer
// declare (a=ssrc and a=ssrc-group lines), those Pion maps to its
// receivers, and SSRC 0, which Chrome probes bandwidth on and Pion reads
// once. It refuses a section that declares more than maxSectionSSRCs, or
// an offer that declares more than maxTotal.
func declaredSSRCs(sd *sdp.SessionDescription, maxTotal int) ([]uint32, error) {
	all := []uint32{0}
	for _, m := range sd.MediaDescriptions {
		if !sending(sd, m) {
			continue
		}
		var section []uint32
		limit := maxSectionSSRCs
		if _, ok := m.Attribute("simulcast"); ok {
			limit = maxSimulcastSSRCs
		}
		for _, a := range m.Attributes {
			var fields []string
			switch a.Key {
			case "ssrc":
				fields = strings.Fields(a.Value)
				if len(fields) > 1 {
					fields = fields[:1]
				}
			case "ssrc-group":
				fields = strings.Fields(a.Value)
				if len(fields) > 0 {
					fields = fields[1:] // the semantics
				}
			default:
				continue
			}
			for _, f := range fields {
				v, err := strconv.ParseUint(f, 10, 32)
				if err != nil {
					continue // Pion skips it too
				}
				if !slices.Contains(section, uint32(v)) {
					section = append(section, uint32(v))
				}
				if len(section) > limit {
					return nil, refuse(ErrNotAllowed, "an m-section declares more than %d SSRCs", limit)
				}
			}
		}
		all = append(all, section...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all)-1 > maxTotal {
		return nil, refuse(ErrNotAllowed, "the offer declares more than %d SSRCs", maxTotal)
	}
	return all, nil
}

// refuseUnsupported rewrites a publisher's offer before Pion answers it, so
// that Pion's answer accepts only what the SFU serves, and Pion's answer
// before the client gets it, so that it says so:
//
//   - an m=application section (data channels, which v1 does not have) is
//     given port 0 and taken out of the BUNDLE group: Pion then rejects it
//     in its answer (port 0) and never starts SCTP;
//   - an H.264 format other than packetization-mode=1 with
//     profile-level-id 42 00 xx or 42 e0 xx is renamed so that Pion
//     matches nothing to it. (Pion would otherwise take any H.264 profile
//     by its name alone, when nothing else matches, and the SFU would
//     forward, say, High profile to subscribers that negotiated
//     Constrained Baseline.) A video section left with no format the SFU
//     takes is rejected in the answer.
//
// Everything else is kept byte for byte. It returns the SDP and how many
// m=application sections it rejected.
func refuseUnsupported(offer string) (string, int) {
	var (
		b        strings.Builder
		rejected []string // mids of rejected sections
		parts    [][]string
	)
	cur := []string{}
	for rest := offer; rest != ""; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if strings.HasPrefix(line, "m=") {
			parts = append(parts, cur)
			cur = nil
		}
		cur = append(cur, line)
	}
	parts = append(parts, cur)
	changed := false
	for _, section := range parts[1:] {
		fields := strings.Fields(section[0])
		switch {
		case len(fields) < 2:
		case fields[0] == "m=application" && fields[1] != "0":
			at := len("m=application") + strings.Index(section[0][len("m=application"):], fields[1])
			section[0] = section[0][:at] + "0" + section[0][at+len(fields[1]):]
			for i, l := range section {
				if v, ok := strings.CutPrefix(trimEOL(l), "a=mid:"); ok {
					rejected = append(rejected, strings.TrimSpace(v))
				}
				if trimEOL(l) == "a=bundle-only" {
					section[i] = ""
				}
			}
			changed = true
		case fields[0] == "m=video":
			changed = refuseH264(section) || changed
		}
	}
	if len(rejected) > 0 {
		for i, l := range parts[0] {
			v, ok := strings.CutPrefix(trimEOL(l), "a=group:BUNDLE")
			if !ok {
				continue
			}
			mids := slices.DeleteFunc(strings.Fields(v), func(mid string) bool { return slices.Contains(rejected, mid) })
			parts[0][i] = ""
			if len(mids) > 0 {
				parts[0][i] = "a=group:BUNDLE " + strings.Join(mids, " ") + l[len(trimEOL(l)):]
			}
		}
	}
	if !changed {
		return offer, 0
	}
	b.Grow(len(offer))
	for _, section := range parts {
		for _, l := range section {
			b.WriteString(l)
		}
	}
	return b.String(), len(rejected)
}

// refuseH264 renames the H.264 formats of a video section that the SFU
// does not take; it reports whether it renamed any.
func refuseH264(section []string) bool {
	fmtp := make(map[string]string)
	for _, l := range section {
		if v, ok := strings.CutPrefix(trimEOL(l), "a=fmtp:"); ok {
			if pt, params, ok := strings.Cut(v, " "); ok {
				fmtp[pt] = params
			}
		}
	}
	changed := false
	for i, l := range section {
		v, ok := strings.CutPrefix(trimEOL(l), "a=rtpmap:")
		if !ok {
			continue
		}
		pt, enc, ok := strings.Cut(v, " ")
		name, _, _ := strings.Cut(enc, "/")
		if !ok || !strings.EqualFold(name, "H264") || h264Accepted(fmtp[pt]) {
			continue
		}
		section[i] = "a=rtpmap:" + pt + " " + refusedCodec + enc[len(name):] + l[len(trimEOL(l)):]
		changed = true
	}
	return changed
}

// h264Accepted reports whether an H.264 fmtp line names a format the SFU
// registered, as Pion compares them: packetization-mode 1 and a
// profile-level-id whose first two bytes (profile_idc, profile-iop) are
// 42 00 (Baseline) or 42 e0 (Constrained Baseline).
func h264Accepted(params string) bool {
	var mode, plid string
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode = v
		case "profile-level-id":
			plid = v
		}
	}
	id, err := hex.DecodeString(plid)
	return mode == "1" && err == nil && len(id) >= 2 && id[0] == 0x42 && (id[1] == 0x00 || id[1] == 0xe0)
}

// limitAnswer adds to each audio and video m-section of an answer that
// is not rejected the most the publisher should send on it (RFC 4566
// b=AS in kbit/s, RFC 3890 b=TIAS in bit/s): browsers cap their encoders
// to it. bps <= 0 leaves the answer as it is.
func limitAnswer(answer string, bps int) string {
	if bps <= 0 {
		return answer
	}
	var b strings.Builder
	b.Grow(len(answer) + 256)
	inMedia := false
	for rest := answer; rest != ""; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		b.WriteString(line)
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(line, "m=") {
			inMedia = (f[0] == "m=audio" || f[0] == "m=video") && f[1] != "0"
			if inMedia && !strings.HasPrefix(rest, "c=") {
				writeBandwidth(&b, bps, line)
				inMedia = false
			}
			continue
		}
		if inMedia && strings.HasPrefix(line, "c=") {
			writeBandwidth(&b, bps, line)
			inMedia = false
		}
	}
	return b.String()
}

func writeBandwidth(b *strings.Builder, bps int, after string) {
	eol := after[len(trimEOL(after)):]
	if eol == "" {
		eol = "\r\n"
		b.WriteString(eol)
	}
	fmt.Fprintf(b, "b=AS:%d%sb=TIAS:%d%s", max(bps/1000, 1), eol, bps, eol)
}

func trimEOL(l string) string { return strings.TrimRight(l, "\r\n") }
