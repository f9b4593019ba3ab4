package h264

import (
	"bytes"
	"testing"
)

// bitWriter builds an RBSP, most significant bit first.
type bitWriter struct {
	b   []byte
	pos int
}

func (w *bitWriter) bits(n int, v uint32) {
	for i := n - 1; i >= 0; i-- {
		if w.pos%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (7 - w.pos%8)
		w.pos++
	}
}

func (w *bitWriter) ue(v uint32) {
	n := 0
	for x := v + 1; x > 1; x >>= 1 {
		n++
	}
	w.bits(n, 0)
	w.bits(n+1, v+1)
}

func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

// spsSpec is what a test SPS says.
type spsSpec struct {
	profile      uint32
	chroma       uint32 // high profiles only
	scaling      bool   // a scaling matrix with one list of each size
	pocType      uint32
	wMBs, hUnits uint32
	frameMBsOnly bool
	crop         [4]uint32 // left, right, top, bottom
	// zeros writes level 0 and sps id 127, so that the RBSP begins
	// profile, 00 00 01: an encoder must escape it.
	zeros bool
}

// escape inserts emulation prevention bytes, as an encoder does.
func escape(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

func (s spsSpec) nal() []byte {
	var w bitWriter
	w.bits(8, s.profile)
	w.bits(8, 0) // constraint flags
	if s.zeros {
		w.bits(8, 0)
		w.ue(127)
	} else {
		w.bits(8, 31) // level 3.1
		w.ue(0)       // sps id
	}
	if highProfile(s.profile) {
		w.ue(s.chroma)
		if s.chroma == 3 {
			w.bits(1, 0)
		}
		w.ue(0)
		w.ue(0)
		w.bits(1, 0)
		if s.scaling {
			w.bits(1, 1)
			lists := 8
			if s.chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if i == 0 || i == 6 {
					w.bits(1, 1)
					size := 16
					if i == 6 {
						size = 64
					}
					for j := range size {
						w.se(int32(j%5) - 2)
					}
				} else {
					w.bits(1, 0)
				}
			}
		} else {
			w.bits(1, 0)
		}
	}
	w.ue(4) // log2_max_frame_num_minus4
	w.ue(s.pocType)
	switch s.pocType {
	case 0:
		w.ue(4)
	case 1:
		w.bits(1, 0)
		w.se(-3)
		w.se(2)
		w.ue(2)
		w.se(1)
		w.se(-1)
	}
	w.ue(1) // max_num_ref_frames
	w.bits(1, 0)
	w.ue(s.wMBs - 1)
	w.ue(s.hUnits - 1)
	if s.frameMBsOnly {
		w.bits(1, 1)
	} else {
		w.bits(1, 0)
		w.bits(1, 1)
	}
	w.bits(1, 1) // direct_8x8_inference_flag
	if s.crop != [4]uint32{} {
		w.bits(1, 1)
		for _, c := range s.crop {
			w.ue(c)
		}
	} else {
		w.bits(1, 0)
	}
	w.bits(1, 0) // vui_parameters_present_flag
	w.bits(1, 1) // rbsp stop bit
	return append([]byte{0x67}, escape(w.b)...)
}

func TestParseSPS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		spec spsSpec
		w, h int
	}{
		{"baseline 1280x720", spsSpec{profile: 66, wMBs: 80, hUnits: 45, frameMBsOnly: true}, 1280, 720},
		{"baseline 320x180, cropped", spsSpec{profile: 66, wMBs: 20, hUnits: 12, frameMBsOnly: true, crop: [4]uint32{0, 0, 0, 6}}, 320, 180},
		{"main 1920x1080", spsSpec{profile: 77, wMBs: 120, hUnits: 68, frameMBsOnly: true, crop: [4]uint32{0, 0, 0, 4}}, 1920, 1080},
		{"high 640x360, scaling matrices", spsSpec{profile: 100, chroma: 1, scaling: true, wMBs: 40, hUnits: 23, frameMBsOnly: true, crop: [4]uint32{0, 0, 0, 4}}, 640, 360},
		{"high 4:4:4, cropped both ways", spsSpec{profile: 244, chroma: 3, scaling: true, wMBs: 40, hUnits: 30, frameMBsOnly: true, crop: [4]uint32{2, 2, 1, 1}}, 636, 478},
		{"high 4:2:2", spsSpec{profile: 122, chroma: 2, wMBs: 40, hUnits: 30, frameMBsOnly: true, crop: [4]uint32{0, 0, 0, 4}}, 640, 476},
		{"interlaced 720x576", spsSpec{profile: 77, pocType: 1, wMBs: 45, hUnits: 18, frameMBsOnly: false}, 720, 576},
		{"monochrome", spsSpec{profile: 100, chroma: 0, pocType: 2, wMBs: 10, hUnits: 10, frameMBsOnly: true, crop: [4]uint32{1, 0, 0, 2}}, 159, 158},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nal := tc.spec.nal()
			w, h, err := ParseSPS(nal)
			if err != nil || w != tc.w || h != tc.h {
				t.Fatalf("ParseSPS(% x) = %d, %d, %v; want %d, %d", nal, w, h, err, tc.w, tc.h)
			}
		})
	}
}

// The fixed SPS of Lethe's Go client's synthetic H.264 source.
func TestParseClientSPS(t *testing.T) {
	t.Parallel()
	if w, h, err := ParseSPS([]byte("\x67\x42\xe0\x1f\xda\x05\x07\xe4")); err != nil || w != 320 || h != 240 {
		t.Fatalf("ParseSPS = %d, %d, %v; want 320x240", w, h, err)
	}
}

// Emulation prevention bytes are removed before the fields are read: a
// crop of 0 bottom units next to zero-valued fields makes 00 00 0x runs.
func TestParseSPSEscaped(t *testing.T) {
	t.Parallel()
	spec := spsSpec{profile: 66, wMBs: 1, hUnits: 1, frameMBsOnly: true, zeros: true}
	nal := spec.nal()
	if !bytes.HasPrefix(nal, []byte{0x67, 66, 0, 0, 3, 1}) {
		t.Fatalf("the test SPS is not escaped: % x", nal)
	}
	raw := append([]byte{0x67}, 0x42, 0, 0, 3, 0) // profile 66, flags 0, level 0, escaped
	if _, _, err := ParseSPS(raw); err == nil {
		t.Errorf("a truncated SPS parsed")
	}
	if w, h, err := ParseSPS(nal); err != nil || w != 16 || h != 16 {
		t.Errorf("ParseSPS(% x) = %d, %d, %v; want 16x16", nal, w, h, err)
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	sps := spsSpec{profile: 66, wMBs: 40, hUnits: 23, frameMBsOnly: true, crop: [4]uint32{0, 0, 0, 4}}.nal()
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84}
	stapA := []byte{0x18}
	for _, n := range [][]byte{pps, sps, idr} {
		stapA = append(stapA, byte(len(n)>>8), byte(len(n)))
		stapA = append(stapA, n...)
	}
	fuStart := append([]byte{0x7c, 0x80 | 7}, sps[1:]...)
	for _, tc := range []struct {
		name    string
		payload []byte
		ok      bool
	}{
		{"single SPS", sps, true},
		{"STAP-A with PPS, SPS, IDR", stapA, true},
		{"FU-A start of an SPS", fuStart, true},
		{"IDR only", idr, false},
		{"STAP-A without SPS", []byte{0x18, 0, 4, 0x68, 0xce, 0x3c, 0x80}, false},
		{"STAP-A overrunning", []byte{0x18, 0, 40, 0x67, 0x42}, false},
		{"FU-A middle", []byte{0x7c, 0x07, 1, 2, 3}, false},
		{"empty", nil, false},
	} {
		w, h, ok := Size(tc.payload)
		if ok != tc.ok || ok && (w != 640 || h != 360) {
			t.Errorf("%s: Size = %d, %d, %v; want 640x360 %v", tc.name, w, h, ok, tc.ok)
		}
	}
}

func TestParseSPSRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		nal  []byte
	}{
		{"not an SPS", []byte{0x68, 1, 2, 3, 4}},
		{"too short", []byte{0x67, 0x42}},
		{"cut off", spsSpec{profile: 66, wMBs: 80, hUnits: 45, frameMBsOnly: true}.nal()[:6]},
		{"too wide", spsSpec{profile: 66, wMBs: 2000, hUnits: 45, frameMBsOnly: true}.nal()},
		{"cropped to nothing", spsSpec{profile: 66, wMBs: 2, hUnits: 2, frameMBsOnly: true, crop: [4]uint32{8, 8, 0, 0}}.nal()},
		{"chroma format 4", append([]byte{0x67, 100, 0, 31}, 0x80, 0x14, 0xff)}, // sps id 0, then a chroma format far over 3
		{"all ones", bytes.Repeat([]byte{0xff}, 40)},
		{"all zeros", append([]byte{0x67}, make([]byte, 40)...)},
	} {
		if w, h, err := ParseSPS(tc.nal); err == nil {
			t.Errorf("%s: ParseSPS(% x) = %d, %d, want an error", tc.name, tc.nal, w, h)
		}
	}
}

func FuzzSize(f *testing.F) {
	f.Add(spsSpec{profile: 100, chroma: 1, scaling: true, wMBs: 40, hUnits: 23, frameMBsOnly: true, crop: [4]uint32{0, 0, 0, 4}}.nal())
	f.Add(spsSpec{profile: 77, pocType: 1, wMBs: 45, hUnits: 18}.nal())
	f.Add([]byte("\x67\x42\xe0\x1f\xda\x05\x07\xe4"))
	f.Add([]byte{0x18, 0, 8, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x05, 0x07, 0xe4})
	f.Add([]byte{0x7c, 0x87, 0x42, 0xe0, 0x1f, 0xda, 0x05, 0x07, 0xe4})
	f.Fuzz(func(t *testing.T, payload []byte) {
		w, h, ok := Size(payload)
		if ok && (w <= 0 || h <= 0 || w > MaxDimension || h > MaxDimension) {
			t.Fatalf("Size = %d, %d", w, h)
		}
	})
}
