package vp9

import (
	"fmt"
	"testing"
)

// run feeds n pictures of g to s at the targets given for each picture
// (target(i) returns them) and returns, per picture, the layers forwarded
// ("s0t0" ... ; "-" none) and whether the marker ended each forwarded
// picture exactly once, on its last packet.
func run(t *testing.T, g *Gen, s *Selector, n int, target func(i int) (int, int), key map[int]bool) []string {
	t.Helper()
	var out []string
	for i := range n {
		if key[i] {
			g.Keyframe()
		}
		ts := uint32(i * 3000)
		ps, sp := g.Next(nil), 0
		ts8, tt8 := target(i)
		top, tid, marks, last := -1, -1, 0, false
		for _, p := range ps {
			var d Descriptor
			if err := Parse(p.Payload, &d); err != nil {
				t.Fatal(err)
			}
			dec := s.Select(&d, ts, ts8, tt8)
			if !dec.Forward {
				continue
			}
			sp++
			top, tid = max(top, p.SID), p.TID
			last = p.Marker || dec.EndOfPicture
			if last {
				marks++
			}
		}
		switch {
		case sp == 0:
			out = append(out, "-")
		case marks != 1 || !last:
			t.Fatalf("picture %d: %d markers, last marked %v", i, marks, last)
		default:
			out = append(out, fmt.Sprintf("s%dt%d", top, tid))
		}
	}
	return out
}

func TestSelector(t *testing.T) {
	t.Parallel()
	fixed := func(s, t int) func(int) (int, int) { return func(int) (int, int) { return s, t } }
	tests := []struct {
		name   string
		target func(int) (int, int)
		key    map[int]bool
		skip   int // pictures of the stream before the selector sees any
		want   []string
	}{
		{name: "all", target: fixed(2, 2), want: []string{"s2t0", "s2t2", "s2t1", "s2t2", "s2t0"}},
		{name: "lowest", target: fixed(0, 0), want: []string{"s0t0", "-", "-", "-", "s0t0"}},
		{name: "middle half rate", target: fixed(1, 1), want: []string{"s1t0", "-", "s1t1", "-", "s1t0"}},
		{name: "above the top", target: fixed(7, 7), want: []string{"s2t0", "s2t2", "s2t1", "s2t2", "s2t0"}},
		{name: "waits for a keyframe", skip: 1, target: fixed(2, 2), key: map[int]bool{3: true},
			want: []string{"-", "-", "-", "s2t0", "s2t2"}},
		{
			name: "down at once, up at a keyframe", key: map[int]bool{6: true},
			target: func(i int) (int, int) {
				if i >= 2 {
					return 2, 2
				}
				return 0, 2
			},
			want: []string{"s0t0", "s0t2", "s0t1", "s0t2", "s0t0", "s0t2", "s2t0", "s2t2"},
		},
		{
			name: "spatial down", target: func(i int) (int, int) {
				if i >= 1 {
					return 1, 2
				}
				return 2, 2
			},
			want: []string{"s2t0", "s1t2", "s1t1", "s1t2"},
		},
		{
			name: "temporal up at a switching point", target: func(i int) (int, int) {
				if i >= 1 {
					return 0, 2
				}
				return 0, 0
			},
			want: []string{"s0t0", "s0t2", "s0t1", "s0t2"},
		},
		{
			name: "paused then back at a keyframe", key: map[int]bool{4: true},
			target: func(i int) (int, int) {
				if i == 1 {
					return -1, 2
				}
				return 0, 2
			},
			want: []string{"s0t0", "-", "-", "-", "s0t0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := &Gen{Spatial: 3, Temporal: 3, Packets: 2, FrameBytes: 10, Width: 1280, Height: 720}
			for range tt.skip {
				g.Next(nil)
			}
			var s Selector
			got := run(t, g, &s, len(tt.want), tt.target, tt.key)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestSelectorNeedsKeyframe(t *testing.T) {
	t.Parallel()
	g := &Gen{Spatial: 3, Temporal: 1, Packets: 1, Width: 640, Height: 360}
	g.Next(nil) // the keyframe is missed
	var s Selector
	var d Descriptor
	p := g.Next(nil)[0]
	_ = Parse(p.Payload, &d)
	if dec := s.Select(&d, 3000, 2, 0); dec.Forward || !dec.NeedKeyframe {
		t.Fatalf("before a keyframe: %+v", dec)
	}
	g.Keyframe()
	ps := g.Next(nil)
	_ = Parse(ps[0].Payload, &d)
	if dec := s.Select(&d, 6000, 0, 0); !dec.Forward || !dec.Started || dec.NeedKeyframe {
		t.Fatalf("keyframe: %+v", dec)
	}
	// Up: the next non-key picture cannot switch, and says so.
	ps = g.Next(nil)
	_ = Parse(ps[1].Payload, &d)
	if dec := s.Select(&d, 9000, 1, 0); dec.Forward || !dec.NeedKeyframe {
		t.Fatalf("s1 of a delta picture: %+v", dec)
	}
}

// TestSelectorStraggler: a late packet of the previous picture goes by
// the layers sent now, and moves nothing.
func TestSelectorStraggler(t *testing.T) {
	t.Parallel()
	g := &Gen{Spatial: 2, Temporal: 1, Packets: 1, Width: 640, Height: 360}
	var s Selector
	var d Descriptor
	first := g.Next(nil)
	for _, p := range first {
		_ = Parse(p.Payload, &d)
		s.Select(&d, 0, 1, 0)
	}
	for _, p := range g.Next(nil) {
		_ = Parse(p.Payload, &d)
		s.Select(&d, 3000, 1, 0)
	}
	_ = Parse(first[1].Payload, &d)
	if dec := s.Select(&d, 0, 1, 0); !dec.Forward || !dec.EndOfPicture {
		t.Fatalf("straggler: %+v", dec)
	}
	if s.Spatial() != 1 {
		t.Fatalf("spatial %d", s.Spatial())
	}
}

func BenchmarkSelect(b *testing.B) {
	g := &Gen{Spatial: 3, Temporal: 3, Packets: 3, FrameBytes: 10, Width: 1280, Height: 720}
	var ds []Descriptor
	for range 8 {
		for _, p := range g.Next(nil) {
			var d Descriptor
			_ = Parse(p.Payload, &d)
			ds = append(ds, d)
		}
	}
	var s Selector
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := &ds[i%len(ds)]
		s.Select(d, uint32(i/9)*3000, 1, 1)
		i++
	}
}

// FuzzSelect feeds arbitrary descriptors, timestamps and targets: the
// selector never forwards a layer above its targets, nor anything before
// a keyframe.
func FuzzSelect(f *testing.F) {
	f.Add([]byte{0x2c, 0x00, 0x00, 0x01, 0x01, 0x6c, 0x02, 0x00, 0x01, 0x02})
	f.Add([]byte{0x0c, 0x00, 0x22, 0x10, 0x2c, 0xff, 0x00, 0x01, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var s Selector
		started := false
		for len(ops) >= 5 {
			var d Descriptor
			op := ops[:5]
			ops = ops[5:]
			if Parse(op[:2], &d) != nil {
				d = Descriptor{}
			}
			ts := uint32(op[2]) * 3000
			tS, tT := int(int8(op[3]))%4, int(int8(op[4]))%4
			dec := s.Select(&d, ts, tS, tT)
			if d.Keyframe() && tS >= 0 && tT >= 0 {
				started = true
			}
			if tS < 0 || tT < 0 {
				started = false
			}
			if !dec.Forward {
				continue
			}
			if !started {
				t.Fatalf("forwarded before a keyframe: %+v", d)
			}
			if int(d.SID) > s.Spatial() || int(d.TID) > s.Temporal() {
				t.Fatalf("forwarded s%dt%d while at s%dt%d", d.SID, d.TID, s.Spatial(), s.Temporal())
			}
		}
	})
}
