package vp9

// Gen makes the RTP payloads of a synthetic scalable VP9 stream shaped as
// Chromium's L<n>T<m>_KEY: every picture has each spatial layer; a
// keyframe picture predicts each layer from the one below (and carries
// the scalability structure), the others each layer from itself alone;
// temporal layers follow the 0,2,1,2 pattern (0,1 for two; 0 for one),
// with every picture above layer 0 a switching up point. It is for tests,
// benchmarks and load generators: the frame data is filler.
type Gen struct {
	Spatial, Temporal int // layers, 1-3
	// Packets is the packets per layer frame; FrameBytes the payload
	// bytes after each descriptor.
	Packets, FrameBytes int
	// Width and Height of the top spatial layer; each below is half.
	Width, Height int

	n      int // pictures made
	pid    uint16
	tl0    uint8
	forceK bool
}

// Packet is one RTP payload of a picture and the marker it is sent with.
type Packet struct {
	Payload []byte
	Marker  bool
	SID     int
	TID     int
}

// Keyframe makes the next picture a keyframe.
func (g *Gen) Keyframe() { g.forceK = true }

// Next returns the packets of the next picture, appending to out's
// backing array (its payloads are new slices).
func (g *Gen) Next(out []Packet) []Packet {
	key := g.n == 0 || g.forceK
	g.forceK = false
	tid := 0
	switch g.Temporal {
	case 2:
		tid = g.n % 2
	case 3:
		tid = [4]int{0, 2, 1, 2}[g.n%4]
	}
	if key {
		tid = 0
	}
	if tid == 0 && g.n > 0 {
		g.tl0++
	}
	g.n++
	g.pid = (g.pid + 1) & 0x7fff
	ns := max(1, min(g.Spatial, 3))
	np := max(1, g.Packets)
	for s := range ns {
		for p := range np {
			d := Descriptor{
				I: true, WidePID: true, PictureID: g.pid, L: true, B: p == 0, E: p == np-1,
				P: !key, TID: uint8(tid), U: tid > 0, SID: uint8(s), D: key && s > 0,
				TL0PICIDX: g.tl0, Z: s == ns-1,
			}
			if key && s == 0 && p == 0 {
				d.V, d.NumSpatial, d.HasSizes = true, uint8(ns), true
				for i := range ns {
					d.Width[i] = uint16(g.Width >> (ns - 1 - i))
					d.Height[i] = uint16(g.Height >> (ns - 1 - i))
				}
			}
			b := Append(make([]byte, 0, 32+g.FrameBytes), &d)
			for i := range g.FrameBytes {
				b = append(b, byte(i))
			}
			out = append(out, Packet{Payload: b, Marker: s == ns-1 && p == np-1, SID: s, TID: tid})
		}
	}
	return out
}
