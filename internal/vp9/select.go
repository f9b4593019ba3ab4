package vp9

// Selector decides, packet by packet, what of a scalable VP9 stream one
// receiver is sent: every spatial layer up to a target one and every
// temporal layer up to a target one, changing layers only where the
// receiver's decoder can follow.
//
//   - Down, spatially or temporally: at the next picture. Lower layers
//     never reference higher ones.
//   - Up spatially: at a keyframe picture, straight to the target. (In
//     Chromium's L3T3_KEY no other picture lets a higher layer start; in
//     full SVC an upper layer frame that is not inter-picture predicted
//     could, but where its picture ends would not be known at the layer
//     below, which must carry the marker.) Ask the publisher for one.
//   - Up temporally: at a picture of the higher temporal layer that is a
//     switching up point (U), or at a keyframe.
//   - From nothing (a new receiver, after Reset): at a keyframe.
//
// The last packet forwarded of each picture should carry the RTP marker:
// Decision.EndOfPicture says where that is besides the publisher's own
// marker (which ends the top layer present in a picture).
//
// A Selector is not safe for concurrent use; its zero value waits for a
// keyframe.
type Selector struct {
	started  bool
	spatial  int8 // highest spatial layer being forwarded; -1 before a keyframe
	temporal int8 // highest temporal layer being forwarded
	ts       uint32
}

// Decision is what to do with one packet.
type Decision struct {
	// Forward: send the packet.
	Forward bool
	// EndOfPicture: it is the last packet of the highest spatial layer
	// forwarded; set the RTP marker on it.
	EndOfPicture bool
	// Started: the first packet after a wait for a keyframe. The output
	// begins anew here (the caller may start a new rewrite epoch).
	Started bool
	// NeedKeyframe: the target cannot be reached until the publisher
	// sends a keyframe (ask it, throttled).
	NeedKeyframe bool
	// Switched: the spatial layer being forwarded changed at this packet.
	Switched bool
}

// Reset makes s wait for a keyframe again.
func (s *Selector) Reset() { *s = Selector{} }

// Spatial returns the highest spatial layer being forwarded, -1 while
// waiting for a keyframe.
func (s *Selector) Spatial() int {
	if !s.started {
		return -1
	}
	return int(s.spatial)
}

// Temporal returns the highest temporal layer being forwarded, -1 while
// waiting for a keyframe.
func (s *Selector) Temporal() int {
	if !s.started {
		return -1
	}
	return int(s.temporal)
}

// Select decides for the packet whose descriptor is d and RTP timestamp
// ts (the timestamp of its picture), aiming at spatial layer targetS and
// temporal layer targetT (below 0: send nothing, and start again from a
// keyframe after).
func (s *Selector) Select(d *Descriptor, ts uint32, targetS, targetT int) Decision {
	if targetS < 0 || targetT < 0 {
		s.Reset()
		return Decision{}
	}
	sid, tid := int8(d.SID), int8(d.TID)
	ts8, tt8 := int8(min(targetS, 7)), int8(min(targetT, 7))
	var out Decision
	switch {
	case !s.started:
		if !d.Keyframe() {
			return Decision{NeedKeyframe: true}
		}
		*s = Selector{started: true, spatial: ts8, temporal: tt8, ts: ts}
		out.Started, out.Switched = true, true
	case ts == s.ts:
	case int32(ts-s.ts) < 0:
		// A straggler of an earlier picture: by the layers now sent.
		if sid > s.spatial || tid > s.temporal {
			return Decision{}
		}
		return Decision{Forward: true, EndOfPicture: d.E && sid == s.spatial}
	default:
		// A new picture: down-switches take effect at once, up-switches
		// in time.
		s.ts = ts
		switch {
		case d.Keyframe():
			out.Switched = s.spatial != ts8
			s.spatial, s.temporal = ts8, tt8
		case s.spatial > ts8:
			s.spatial, out.Switched = ts8, true
		}
		switch {
		case s.temporal > tt8:
			s.temporal = tt8
		case tid > s.temporal && tid <= tt8 && d.U:
			s.temporal = tid
		}
	}
	if tid > s.temporal {
		return out // a picture of a temporal layer not sent
	}
	if sid > s.spatial {
		out.NeedKeyframe = sid <= ts8
		return out
	}
	out.Forward = true
	out.EndOfPicture = d.E && sid == s.spatial
	if s.spatial < ts8 {
		out.NeedKeyframe = true // an up-switch waits for the next keyframe
	}
	return out
}
