package vp9

import "errors"

// Errors of Parse.
var (
	// ErrShort is a descriptor cut off before its end.
	ErrShort = errors.New("vp9: payload descriptor too short")
	// ErrTooManyRefs is a flexible-mode picture with more than three
	// reference indices.
	ErrTooManyRefs = errors.New("vp9: more than 3 reference indices")
)

// MaxSpatial is the most spatial layers a scalability structure can
// describe (N_S is 3 bits).
const MaxSpatial = 8

// Descriptor is a parsed VP9 payload descriptor. Fields of a part that is
// absent are zero: without layer indices (L unset) a packet is of spatial
// and temporal layer 0.
type Descriptor struct {
	I bool // picture id present
	P bool // inter-picture predicted: not the start of a decodable stream
	L bool // layer indices present
	F bool // flexible mode
	B bool // first packet of a layer frame
	E bool // last packet of a layer frame
	V bool // scalability structure present
	Z bool // not used for inter-layer prediction by the layer above

	PictureID uint16 // 7 or 15 bits
	WidePID   bool   // the picture id is 15 bits (M set)

	TID uint8 // temporal layer
	U   bool  // switching up point: later frames of TID reference none before it
	SID uint8 // spatial layer
	D   bool  // inter-layer dependency: predicted from the layer below

	TL0PICIDX uint8 // non-flexible mode with layer indices

	NumRefs uint8    // flexible mode, P set: reference indices
	PDiff   [3]uint8 // of which NumRefs are valid

	// The scalability structure, when V is set.
	NumSpatial    uint8              // N_S + 1
	HasSizes      bool               // Y: Width and Height are valid
	Width, Height [MaxSpatial]uint16 // per spatial layer, lowest first
	HasGroup      bool               // G: a picture group follows
	GroupLen      uint8              // N_G

	// Len is the descriptor's length: the VP9 frame data starts there.
	Len int
}

// Parse reads the descriptor at the start of a VP9 RTP payload into d. It
// neither allocates nor keeps b.
func Parse(b []byte, d *Descriptor) error {
	*d = Descriptor{}
	if len(b) < 1 {
		return ErrShort
	}
	x := b[0]
	d.I, d.P, d.L, d.F = x&0x80 != 0, x&0x40 != 0, x&0x20 != 0, x&0x10 != 0
	d.B, d.E, d.V, d.Z = x&0x08 != 0, x&0x04 != 0, x&0x02 != 0, x&0x01 != 0
	n := 1
	if d.I {
		if len(b) < n+1 {
			return ErrShort
		}
		d.PictureID = uint16(b[n] & 0x7f)
		if b[n]&0x80 != 0 {
			if len(b) < n+2 {
				return ErrShort
			}
			d.WidePID = true
			d.PictureID = d.PictureID<<8 | uint16(b[n+1])
			n++
		}
		n++
	}
	if d.L {
		if len(b) < n+1 {
			return ErrShort
		}
		l := b[n]
		d.TID, d.U, d.SID, d.D = l>>5, l&0x10 != 0, l>>1&0x07, l&0x01 != 0
		n++
		if !d.F {
			if len(b) < n+1 {
				return ErrShort
			}
			d.TL0PICIDX = b[n]
			n++
		}
	}
	if d.F && d.P {
		for {
			if len(b) < n+1 {
				return ErrShort
			}
			if d.NumRefs == 3 {
				return ErrTooManyRefs
			}
			d.PDiff[d.NumRefs] = b[n] >> 1
			d.NumRefs++
			more := b[n]&0x01 != 0
			n++
			if !more {
				break
			}
		}
	}
	if d.V {
		var err error
		if n, err = parseSS(b, n, d); err != nil {
			return err
		}
	}
	d.Len = n
	return nil
}

// parseSS reads the scalability structure at b[n:].
func parseSS(b []byte, n int, d *Descriptor) (int, error) {
	if len(b) < n+1 {
		return n, ErrShort
	}
	d.NumSpatial = b[n]>>5 + 1
	d.HasSizes, d.HasGroup = b[n]&0x10 != 0, b[n]&0x08 != 0
	n++
	if d.HasSizes {
		if len(b) < n+4*int(d.NumSpatial) {
			return n, ErrShort
		}
		for i := range int(d.NumSpatial) {
			d.Width[i] = uint16(b[n])<<8 | uint16(b[n+1])
			d.Height[i] = uint16(b[n+2])<<8 | uint16(b[n+3])
			n += 4
		}
	}
	if d.HasGroup {
		if len(b) < n+1 {
			return n, ErrShort
		}
		d.GroupLen = b[n]
		n++
		for range int(d.GroupLen) {
			if len(b) < n+1 {
				return n, ErrShort
			}
			refs := int(b[n] >> 2 & 0x03)
			n += 1 + refs
			if len(b) < n {
				return n, ErrShort
			}
		}
	}
	return n, nil
}

// Keyframe reports whether d starts a picture a decoder can begin with:
// the first packet of a base spatial layer frame that is not
// inter-picture predicted.
func (d *Descriptor) Keyframe() bool { return d.B && !d.P && d.SID == 0 }

// IsKeyframe reports whether a VP9 RTP payload starts a keyframe.
func IsKeyframe(payload []byte) bool {
	var d Descriptor
	return Parse(payload, &d) == nil && d.Keyframe()
}
