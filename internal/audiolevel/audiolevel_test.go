package audiolevel

import (
	"testing"

	"github.com/pion/rtp"
)

// packet marshals an RTP packet with the given extensions (id → payload),
// in the one- or two-byte form.
func packet(t testing.TB, profile uint16, csrcs int, exts map[uint8][]byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: 42}, Payload: []byte{1, 2, 3}}
	for i := range csrcs {
		p.CSRC = append(p.CSRC, uint32(i+1))
	}
	if len(exts) > 0 {
		p.Extension, p.ExtensionProfile = true, profile
		for id, payload := range exts {
			if err := p.SetExtension(id, payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func level(t testing.TB, l uint8, voice bool) []byte {
	t.Helper()
	b, err := rtp.AudioLevelExtension{Level: l, Voice: voice}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		b         []byte
		id        uint8
		level     uint8
		voice, ok bool
	}{
		{"one-byte", packet(t, 0xBEDE, 0, map[uint8][]byte{1: level(t, 30, true)}), 1, 30, true, true},
		{"one-byte among others", packet(t, 0xBEDE, 2, map[uint8][]byte{3: {9, 9}, 5: level(t, 127, false), 7: {1, 2, 3, 4}}), 5, 127, false, true},
		{"two-byte", packet(t, 0x1000, 0, map[uint8][]byte{1: {0, 0, 0}, 200: level(t, 0, true)}), 200, 0, true, true},
		{"other id", packet(t, 0xBEDE, 0, map[uint8][]byte{1: level(t, 30, true)}), 2, 0, false, false},
		{"no extension", packet(t, 0, 0, nil), 1, 0, false, false},
		{"id zero", packet(t, 0xBEDE, 0, map[uint8][]byte{1: level(t, 30, true)}), 0, 0, false, false},
		{"short", []byte{0x90, 0, 0, 1}, 1, 0, false, false},
		{"not rtp", append([]byte{0x10}, make([]byte, 20)...), 1, 0, false, false},
		{"extension past the end", []byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 9, 0x10, 30, 0, 0}, 1, 0, false, false},
		{"element past the block", []byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0, 0, 0, 0x13}, 1, 0, false, false},
		{"padding then level", []byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0, 0, 0x20, 0x85}, 2, 5, true, true},
		{"reserved id 15 stops", []byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0xf0, 0, 0x20, 0x85}, 2, 0, false, false},
		{"two-byte empty element", []byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x00, 0, 1, 4, 0, 0, 0}, 4, 0, false, false},
		{"unknown profile", []byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x12, 0x34, 0, 1, 0x10, 30, 0, 0}, 1, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, v, ok := Parse(tc.b, tc.id)
			if l != tc.level || v != tc.voice || ok != tc.ok {
				t.Fatalf("Parse = %d, %v, %v; want %d, %v, %v", l, v, ok, tc.level, tc.voice, tc.ok)
			}
		})
	}
}

// FuzzParse: never panics; what it finds, pion/rtp finds too.
func FuzzParse(f *testing.F) {
	f.Add(packet(f, 0xBEDE, 0, map[uint8][]byte{1: level(f, 30, true)}), uint8(1))
	f.Add(packet(f, 0x1000, 1, map[uint8][]byte{3: level(f, 90, false)}), uint8(3))
	f.Add([]byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0, 0, 0x20, 0x85}, uint8(2))
	f.Add([]byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, id uint8) {
		l, v, ok := Parse(b, id)
		if !ok {
			return
		}
		if l > Silence {
			t.Fatalf("level %d", l)
		}
		var h rtp.Header
		if _, err := h.Unmarshal(b); err != nil || h.ExtensionProfile != 0xBEDE && h.ExtensionProfile != 0x1000 {
			return // pion/rtp is stricter about what follows the block, and reads no two-byte appbits
		}
		raw := h.GetExtension(id)
		if len(raw) == 0 || raw[0]&0x7f != l || (raw[0]&0x80 != 0) != v {
			t.Fatalf("Parse = %d, %v; pion/rtp reads %x", l, v, raw)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	pkt := packet(b, 0xBEDE, 0, map[uint8][]byte{1: {1, 2}, 3: {0, 0, 0}, 4: level(b, 30, true)})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := Parse(pkt, 4); !ok {
			b.Fatal("no level")
		}
	}
}
