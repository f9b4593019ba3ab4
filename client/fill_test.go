package client

import (
	"bytes"
	"errors"
	"testing"
)

// fillBody returns where the free body of a synthetic payload starts, as
// the test's own reading of the codec's packet format says.
func fillBody(t *testing.T, codec string, p []byte) int {
	t.Helper()
	switch codec {
	case "vp8":
		if p[0]&vp8DescS == 0 {
			return 1 // continuation: all token-partition data
		}
		h := parseVP8Header(t, p[1:])
		return 1 + h.headerLen + h.firstPartSize
	case "h264":
		switch p[0] & 0x1f {
		case h264TypeSTAPA:
			return len(p) - MarkerLen // parameter sets and filler: nothing free
		case h264TypeFUA:
			if p[1]&0x80 != 0 {
				return 2 + len(h264PHeader) - 1 // the slice header follows the FU header
			}
			return 2
		default:
			return len(h264PHeader)
		}
	case "opus":
		_, pad := parseOpusCode3(t, p)
		return len(p) - len(pad)
	}
	t.Fatalf("codec %s", codec)
	return 0
}

func TestSourceFill(t *testing.T) {
	t.Parallel()
	pattern := []byte("0123456789abcdefghijklmnopqrstuvwxyz-CANARY-") // 44 bytes, no zero
	tests := []struct {
		name    string
		codec   string
		newSrc  func(RTPWriter, SourceOptions) (*Source, error)
		bitrate int
	}{
		{"vp8 small frames", "vp8", NewVP8Source, 30_000},
		{"vp8 split frames", "vp8", NewVP8Source, 1_000_000},
		{"h264 single NAL", "h264", NewH264Source, 30_000},
		{"h264 FU-A", "h264", NewH264Source, 1_000_000},
		{"opus", "opus", NewOpusSource, 32_000},
		{"opus large", "opus", NewOpusSource, 320_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fill := bytes.Clone(pattern)
			s, w := newTestSource(t, tt.newSrc, SourceOptions{Bitrate: tt.bitrate, FPS: 25, Fill: fill})
			clear(fill) // the source keeps its own copy
			for i := range 4 {
				if i == 2 {
					s.RequestKeyframe()
				}
				if err := s.WriteFrame(); err != nil {
					t.Fatal(err)
				}
			}
			var bodies []byte
			for i, pkt := range w.pkts {
				p := pkt.Payload
				if _, ok := ParseMarker(p); !ok {
					t.Fatalf("packet %d: marker does not verify", i)
				}
				start := fillBody(t, tt.codec, p)
				if start > len(p)-MarkerLen {
					t.Fatalf("packet %d: body starts at %d of %d", i, start, len(p))
				}
				if tt.codec == "vp8" && p[0]&vp8DescS != 0 {
					h := parseVP8Header(t, p[1:])
					if !bytes.Equal(p[1+h.headerLen:start], make([]byte, h.firstPartSize)) {
						t.Fatalf("packet %d: first partition not zero", i)
					}
				}
				if tt.codec == "h264" && p[0]&0x1f == h264TypeSTAPA &&
					!bytes.Contains(p, []byte(h264SPS)) {
					t.Fatalf("packet %d: STAP-A lost its SPS", i)
				}
				bodies = append(bodies, p[start:len(p)-MarkerLen]...)
			}
			if len(bodies) < 2*len(pattern) {
				t.Fatalf("only %d body bytes", len(bodies))
			}
			want := bytes.Repeat(pattern, len(bodies)/len(pattern)+1)[:len(bodies)]
			if !bytes.Equal(bodies, want) {
				t.Fatal("free bodies are not the fill pattern, continued from payload to payload")
			}
		})
	}
}

func TestSourceFillCodecRules(t *testing.T) {
	t.Parallel()
	// A VP8 keyframe still parses, with a zero first partition, and the
	// H.264 keyframe keeps its parameter sets: covered by TestSourceFill.
	// Here: options that must be refused, and those that must not.
	tests := []struct {
		name   string
		newSrc func(RTPWriter, SourceOptions) (*Source, error)
		fill   []byte
		ok     bool
	}{
		{"h264 zero pair", NewH264Source, []byte{1, 0, 0, 2}, false},
		{"h264 zero pair across the end", NewH264Source, []byte{0, 1, 2, 0}, false},
		{"h264 lone zero byte", NewH264Source, []byte{0}, false},
		{"h264 single zeros", NewH264Source, []byte{0, 1, 0, 2}, true},
		{"vp8 zeros", NewVP8Source, []byte{0, 0, 0}, true},
		{"too long", NewOpusSource, make([]byte, MaxFill+1), false},
		{"longest", NewOpusSource, bytes.Repeat([]byte{7}, MaxFill), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.newSrc(&collector{}, SourceOptions{Fill: tt.fill})
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
		})
	}
}
