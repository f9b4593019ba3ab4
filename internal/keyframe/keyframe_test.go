package keyframe

import (
	"testing"

	"github.com/pion/rtp/codecs"
)

// vp8Key is the start of a VP8 key frame: frame tag with P=0, then the
// start code and a 320x240 size.
var vp8Key = []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}

// vp8Inter is the start of a VP8 inter frame: frame tag with P=1.
var vp8Inter = []byte{0x31, 0x02, 0x00, 0x11, 0x22, 0x33, 0x44}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestVP8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"minimal descriptor, key frame", cat([]byte{0x10}, vp8Key), true},
		{"minimal descriptor, inter frame", cat([]byte{0x10}, vp8Inter), false},
		{"not start of partition", cat([]byte{0x00}, vp8Key), false},
		{"start of partition 1", cat([]byte{0x11}, vp8Key), false},
		{"N bit set is still a key frame", cat([]byte{0x30}, vp8Key), true},
		{"X with no extensions", cat([]byte{0x90, 0x00}, vp8Key), true},
		{"7-bit PictureID", cat([]byte{0x90, 0x80, 0x05}, vp8Key), true},
		{"15-bit PictureID", cat([]byte{0x90, 0x80, 0x81, 0x23}, vp8Key), true},
		{"15-bit PictureID, inter frame", cat([]byte{0x90, 0x80, 0x81, 0x23}, vp8Inter), false},
		{"PictureID, TL0PICIDX, TID", cat([]byte{0x90, 0xe0, 0x81, 0x23, 0x07, 0x40}, vp8Key), true},
		{"K without T", cat([]byte{0x90, 0x10, 0x1f}, vp8Key), true},
		{"all extensions", cat([]byte{0x90, 0xf0, 0x05, 0x07, 0x40}, vp8Key), true},
		{"extension byte misread as frame", []byte{0x90, 0xe0, 0x81, 0x23, 0x07, 0x40, 0x9d, 0x01, 0x2a}, false},
		{"no start code", []byte{0x10, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00}, false},
		{"truncated after S byte with X", []byte{0x90}, false},
		{"truncated before PictureID", []byte{0x90, 0x80}, false},
		{"truncated in 15-bit PictureID", []byte{0x90, 0x80, 0x81}, false},
		{"truncated before TL0PICIDX", []byte{0x90, 0xc0, 0x05}, false},
		{"truncated before TID", []byte{0x90, 0x20}, false},
		{"truncated frame header", cat([]byte{0x90, 0x80, 0x05}, vp8Key[:5]), false},
		{"descriptor only", []byte{0x10}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := VP8(tc.payload); got != tc.want {
				t.Errorf("VP8(% x) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}

func TestH264(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"IDR slice", []byte{0x65, 0x88, 0x84}, true},
		{"SPS", []byte{0x67, 0x42, 0xc0, 0x1f}, true},
		{"PPS", []byte{0x68, 0xce, 0x3c, 0x80}, false},
		{"non-IDR slice", []byte{0x41, 0x9a}, false},
		{"SEI", []byte{0x06, 0x05}, false},
		{"header byte only, IDR", []byte{0x65}, true},
		{"STAP-A with SPS, PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A with IDR second", []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x01, 0x65}, true},
		{"STAP-A without key", []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x41, 0x9a}, false},
		{"STAP-A with empty unit", []byte{0x78, 0x00, 0x00, 0x00, 0x01, 0x65}, true},
		{"STAP-A truncated size", []byte{0x78, 0x00}, false},
		{"STAP-A size beyond end", []byte{0x78, 0x00, 0x09, 0x65, 0x00}, false},
		{"STAP-A size beyond end after a unit", []byte{0x78, 0x00, 0x01, 0x06, 0x00, 0x09, 0x65}, false},
		{"STAP-A header only", []byte{0x78}, false},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A start of IDR, header only", []byte{0x7c, 0x85}, true},
		{"FU-A middle of IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A end of IDR", []byte{0x7c, 0x45, 0x88}, false},
		{"FU-A start of non-IDR", []byte{0x5c, 0x81, 0x9a}, false},
		{"FU-A truncated", []byte{0x7c}, false},
		{"FU-B is not handled", []byte{0x7d, 0x85, 0x00, 0x00}, false},
		{"STAP-B is not handled", []byte{0x79, 0x00, 0x00, 0x00, 0x01, 0x65}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := H264(tc.payload); got != tc.want {
				t.Errorf("H264(% x) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}

func FuzzVP8(f *testing.F) {
	for _, p := range [][]byte{
		nil, {0x10}, {0x90}, {0x90, 0x80}, {0x90, 0x80, 0x81}, {0x90, 0xf0, 0x81, 0x23, 0x07},
		cat([]byte{0x10}, vp8Key), cat([]byte{0x90, 0xf0, 0x05, 0x07, 0x40}, vp8Key),
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got := VP8(payload)
		// Cross-check the descriptor parsing against pion/rtp's.
		var p codecs.VP8Packet
		frame, err := p.Unmarshal(payload)
		want := err == nil && p.S == 1 && p.PID == 0 && len(frame) >= 6 &&
			frame[0]&0x01 == 0 && frame[3] == 0x9d && frame[4] == 0x01 && frame[5] == 0x2a
		if got != want {
			t.Errorf("VP8(% x) = %v, want %v", payload, got, want)
		}
	})
}

func FuzzH264(f *testing.F) {
	for _, p := range [][]byte{
		nil, {0x65}, {0x78}, {0x78, 0x00}, {0x78, 0xff, 0xff, 0x65},
		{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, {0x7c}, {0x7c, 0x85},
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got := H264(payload)
		if got && len(payload) == 0 {
			t.Error("H264(empty) = true")
		}
	})
}

func BenchmarkVP8(b *testing.B) {
	p := cat([]byte{0x90, 0xe0, 0x81, 0x23, 0x07, 0x40}, vp8Key)
	b.ReportAllocs()
	for b.Loop() {
		VP8(p)
	}
}

func BenchmarkH264(b *testing.B) {
	p := []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x68, 0xce, 0x00, 0x01, 0x65}
	b.ReportAllocs()
	for b.Loop() {
		H264(p)
	}
}
