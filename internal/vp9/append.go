package vp9

// Append appends the descriptor d to b, as Parse reads it, and returns
// the extended slice: for test publishers and generators. A picture group
// (HasGroup) is written as GroupLen pictures of temporal layer 0 without
// references.
func Append(b []byte, d *Descriptor) []byte {
	var x byte
	for i, f := range [8]bool{d.Z, d.V, d.E, d.B, d.F, d.L, d.P, d.I} {
		if f {
			x |= 1 << i
		}
	}
	b = append(b, x)
	if d.I {
		if d.WidePID {
			b = append(b, 0x80|byte(d.PictureID>>8&0x7f), byte(d.PictureID))
		} else {
			b = append(b, byte(d.PictureID&0x7f))
		}
	}
	if d.L {
		l := d.TID<<5 | (d.SID&0x07)<<1
		if d.U {
			l |= 0x10
		}
		if d.D {
			l |= 0x01
		}
		b = append(b, l)
		if !d.F {
			b = append(b, d.TL0PICIDX)
		}
	}
	if d.F && d.P {
		n := max(1, min(int(d.NumRefs), 3))
		for i := range n {
			r := d.PDiff[i] << 1
			if i < n-1 {
				r |= 1
			}
			b = append(b, r)
		}
	}
	if d.V {
		ns := max(1, min(int(d.NumSpatial), MaxSpatial))
		s := byte(ns-1) << 5
		if d.HasSizes {
			s |= 0x10
		}
		if d.HasGroup {
			s |= 0x08
		}
		b = append(b, s)
		if d.HasSizes {
			for i := range ns {
				b = append(b, byte(d.Width[i]>>8), byte(d.Width[i]), byte(d.Height[i]>>8), byte(d.Height[i]))
			}
		}
		if d.HasGroup {
			b = append(b, d.GroupLen)
			for range int(d.GroupLen) {
				b = append(b, 0)
			}
		}
	}
	return b
}
