package sfu

import (
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
	// media, its RTX and FEC flows, and one to spare. More is simulcast,
	// which the SFU does not do yet.
	maxSectionSSRCs = 4
)

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
				if len(section) > maxSectionSSRCs {
					return nil, fmt.Errorf("%w: an m-section declares more than %d SSRCs (simulcast is not supported yet)",
						ErrNotAllowed, maxSectionSSRCs)
				}
			}
		}
		all = append(all, section...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all)-1 > maxTotal {
		return nil, fmt.Errorf("%w: the offer declares more than %d SSRCs", ErrNotAllowed, maxTotal)
	}
	return all, nil
}
