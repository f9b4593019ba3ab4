package vp9

import (
	"errors"
	"testing"

	"github.com/pion/rtp/codecs"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want Descriptor
		err  error
	}{
		{name: "empty", in: nil, err: ErrShort},
		{name: "bare", in: []byte{0x0c, 0xaa}, want: Descriptor{B: true, E: true, Len: 1}},
		{name: "short pid", in: []byte{0x88, 0x05}, want: Descriptor{I: true, B: true, PictureID: 5, Len: 2}},
		{name: "wide pid", in: []byte{0x88, 0x81, 0x02}, want: Descriptor{I: true, B: true, WidePID: true, PictureID: 0x102, Len: 3}},
		{name: "wide pid cut", in: []byte{0x88, 0x81}, err: ErrShort},
		{name: "pid cut", in: []byte{0x80}, err: ErrShort},
		{
			// L3T3 non-flexible: TID 2, U, SID 1, D; TL0PICIDX 9.
			name: "layers", in: []byte{0xac, 0x81, 0x02, 0x53, 0x09},
			want: Descriptor{I: true, L: true, B: true, E: true, WidePID: true, PictureID: 0x102,
				TID: 2, U: true, SID: 1, D: true, TL0PICIDX: 9, Len: 5},
		},
		{name: "layers cut", in: []byte{0x20}, err: ErrShort},
		{name: "tl0 cut", in: []byte{0x20, 0x00}, err: ErrShort},
		{
			name: "flexible refs", in: []byte{0x78, 0x20, 0x03, 0x04},
			want: Descriptor{P: true, L: true, F: true, B: true, TID: 1, NumRefs: 2, PDiff: [3]uint8{1, 2}, Len: 4},
		},
		{name: "four refs", in: []byte{0x50, 0x03, 0x03, 0x03, 0x03}, err: ErrTooManyRefs},
		{name: "refs cut", in: []byte{0x50, 0x03}, err: ErrShort},
		{
			name: "ss sizes", in: []byte{0x0a, 0x30, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68},
			want: Descriptor{B: true, V: true, NumSpatial: 2, HasSizes: true,
				Width: [8]uint16{320, 640}, Height: [8]uint16{180, 360}, Len: 10},
		},
		{name: "ss sizes cut", in: []byte{0x0a, 0x30, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01}, err: ErrShort},
		{
			name: "ss group", in: []byte{0x0a, 0x08, 0x02, 0x04, 0x01, 0x00},
			want: Descriptor{B: true, V: true, NumSpatial: 1, HasGroup: true, GroupLen: 2, Len: 6},
		},
		{name: "ss group refs cut", in: []byte{0x0a, 0x08, 0x01, 0x08, 0x01}, err: ErrShort},
		{name: "ss group cut", in: []byte{0x0a, 0x08}, err: ErrShort},
		{name: "ss cut", in: []byte{0x02}, err: ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Descriptor
			err := Parse(tt.in, &d)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && d != tt.want {
				t.Fatalf("got %+v\nwant %+v", d, tt.want)
			}
		})
	}
}

func TestAppendRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []Descriptor{
		{I: true, L: true, B: true, PictureID: 100, TID: 1, SID: 2, U: true, TL0PICIDX: 3},
		{I: true, WidePID: true, PictureID: 30000, P: true, F: true, L: true, E: true, NumRefs: 3, PDiff: [3]uint8{1, 2, 3}},
		{I: true, L: true, B: true, V: true, NumSpatial: 3, HasSizes: true,
			Width: [8]uint16{320, 640, 1280}, Height: [8]uint16{180, 360, 720}, HasGroup: true, GroupLen: 4},
	} {
		b := Append([]byte{}, &d)
		b = append(b, 0xee) // frame data
		var got Descriptor
		if err := Parse(b, &got); err != nil {
			t.Fatalf("%+v: %v", d, err)
		}
		d.Len = len(b) - 1
		if got != d {
			t.Fatalf("got %+v\nwant %+v", got, d)
		}
	}
}

func TestKeyframe(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    Descriptor
		want bool
	}{
		{Descriptor{B: true}, true},
		{Descriptor{B: true, P: true}, false},
		{Descriptor{B: false}, false},
		{Descriptor{B: true, L: true, SID: 1}, false},
	} {
		if got := IsKeyframe(Append(nil, &tt.d)); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.d, got, tt.want)
		}
	}
	if IsKeyframe(nil) {
		t.Error("nil is a keyframe")
	}
}

// FuzzParse checks that Parse never panics, stays within its input, and
// that what it reads writes back (Append) to bytes it reads the same.
func FuzzParse(f *testing.F) {
	for _, s := range [][]byte{
		{0xac, 0x81, 0x02, 0x53, 0x09},
		{0x0a, 0x30, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68},
		{0x0a, 0x08, 0x02, 0x04, 0x01, 0x00},
		{0x50, 0x03, 0x03, 0x03, 0x03},
		{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x0a, 0xe8, 0xff},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Descriptor
		if err := Parse(b, &d); err != nil {
			return
		}
		if d.Len < 1 || d.Len > len(b) {
			t.Fatalf("Len %d of %d bytes", d.Len, len(b))
		}
		if d.V && (d.NumSpatial < 1 || d.NumSpatial > MaxSpatial) {
			t.Fatalf("NumSpatial %d", d.NumSpatial)
		}
		if d.HasGroup {
			return // Append does not keep the group's pictures
		}
		var again Descriptor
		if err := Parse(Append(nil, &d), &again); err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if again != d {
			t.Fatalf("reparse %+v\nwant %+v", again, d)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	pkt := append(Append(nil, &Descriptor{I: true, WidePID: true, PictureID: 1234, L: true, B: true, P: true,
		TID: 2, SID: 1, TL0PICIDX: 7}), make([]byte, 1000)...)
	var d Descriptor
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(pkt, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSS(b *testing.B) {
	pkt := append(Append(nil, &Descriptor{I: true, L: true, B: true, V: true, NumSpatial: 3, HasSizes: true,
		Width: [8]uint16{320, 640, 1280}, Height: [8]uint16{180, 360, 720}, HasGroup: true, GroupLen: 4}),
		make([]byte, 1000)...)
	var d Descriptor
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(pkt, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPionUnmarshal is Pion's parser on the packet of BenchmarkParse,
// for comparison.
func BenchmarkPionUnmarshal(b *testing.B) {
	pkt := append(Append(nil, &Descriptor{I: true, WidePID: true, PictureID: 1234, L: true, B: true, P: true,
		TID: 2, SID: 1, TL0PICIDX: 7}), make([]byte, 1000)...)
	var p codecs.VP9Packet
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Unmarshal(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
