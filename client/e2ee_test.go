package client

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/pion/webrtc/v4"
)

var (
	testRingsMu sync.Mutex
	testRings   = map[string]*e2ee.Ring{}
)

// testRing is a ring with secret at index 0, derived once per test binary.
func testRing(t testing.TB, secret string) *e2ee.Ring {
	t.Helper()
	testRingsMu.Lock()
	defer testRingsMu.Unlock()
	if r := testRings[secret]; r != nil {
		return r
	}
	r, err := e2ee.NewRingWith([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	testRings[secret] = r
	return r
}

// TestE2EESource: an encrypted VP8 source's packets show the SFU a
// keyframe and its size (the clear header) but no marker and no fill;
// reassembled and decrypted with the key, every frame's marker checks
// out; with another key nothing decrypts.
func TestE2EESource(t *testing.T) {
	canary := []byte("CANARY-e2ee-plaintext-")
	for _, tc := range []struct {
		name string
		mime string
		new  func(RTPWriter, SourceOptions) (*Source, error)
		rate int
	}{
		{"vp8", webrtc.MimeTypeVP8, NewVP8Source, 600_000},
		{"opus", webrtc.MimeTypeOpus, NewOpusSource, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring := testRing(t, "room secret")
			var col collector
			src, err := tc.new(&col, SourceOptions{E2EE: ring.NewEncryptor("pub-1"), Fill: canary, Width: 640, Height: 360, Bitrate: tc.rate})
			if err != nil {
				t.Fatal(err)
			}
			const frames = 40
			src.RequestKeyframe()
			for i := range frames {
				if i == 20 {
					src.RequestKeyframe()
				}
				if err := src.WriteFrame(); err != nil {
					t.Fatal(err)
				}
			}
			keys := 0
			for _, p := range col.pkts {
				if _, ok := ParseMarker(p.Payload); ok {
					t.Fatal("a marker readable on the wire")
				}
				if bytes.Contains(p.Payload, canary[:8]) {
					t.Fatal("fill plaintext on the wire")
				}
				if len(p.Payload) > MaxPayload {
					t.Fatalf("payload of %d bytes", len(p.Payload))
				}
				if tc.mime == webrtc.MimeTypeVP8 && isVP8Keyframe(p.Payload) {
					keys++
					if w, h, ok := VP8FrameSize(p.Payload[1:]); !ok || w != 640 || h != 360 {
						t.Errorf("clear keyframe header %dx%d %v, want 640x360", w, h, ok)
					}
				}
			}
			if tc.mime == webrtc.MimeTypeVP8 && keys != 2 {
				t.Errorf("%d keyframe packets seen in the clear, want 2", keys)
			}

			chk := NewChecker(CheckerOptions{MimeType: tc.mime})
			fr, err := NewFrameReader(ring, "pub-1", tc.mime)
			if err != nil {
				t.Fatal(err)
			}
			fr.Checker = chk
			for i := range col.pkts {
				fr.Push(&col.pkts[i])
			}
			st, cs := fr.Stats(), chk.Stats()
			// The sample builder holds the last frame back until the next begins.
			if st.Decrypted < frames-1 || st.Failed != 0 {
				t.Errorf("frames %+v, want %d decrypted", st, frames-1)
			}
			if cs.BadMarkers != 0 || cs.Packets != st.Decrypted || cs.Lost != 0 || cs.Streams != 1 {
				t.Errorf("checker %+v", cs)
			}
			if tc.mime == webrtc.MimeTypeVP8 && (cs.Keyframes != 2 || st.Width != 640 || st.Height != 360) {
				t.Errorf("keyframes %d, size %dx%d; want 2, 640x360", cs.Keyframes, st.Width, st.Height)
			}

			other, err := NewFrameReader(testRing(t, "another secret"), "pub-1", tc.mime)
			if err != nil {
				t.Fatal(err)
			}
			for i := range col.pkts {
				other.Push(&col.pkts[i])
			}
			if st := other.Stats(); st.Decrypted != 0 || st.Failed == 0 {
				t.Errorf("wrong secret: %+v", st)
			}
		})
	}
}

func TestE2EERefusesH264(t *testing.T) {
	_, err := NewH264Source(discard{}, SourceOptions{E2EE: testRing(t, "room secret").NewEncryptor("p")})
	if !errors.Is(err, ErrBadOption) || !errors.Is(err, e2ee.ErrCodec) {
		t.Errorf("H.264 with E2EE: %v", err)
	}
	if _, err := NewFrameReader(testRing(t, "room secret"), "p", webrtc.MimeTypeH264); !errors.Is(err, e2ee.ErrCodec) {
		t.Errorf("H.264 frame reader: %v", err)
	}
}

// BenchmarkE2EEVP8Frame is an encrypted source's cost per 300 kbit/s
// frame (build, encrypt, packetize).
func BenchmarkE2EEVP8Frame(b *testing.B) {
	src, err := NewVP8Source(discard{}, SourceOptions{E2EE: testRing(b, "room secret").NewEncryptor("p"), Now: func() time.Time { return time.Unix(1, 0) }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := src.WriteFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
