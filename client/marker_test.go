package client

import (
	"bytes"
	"testing"
	"time"
)

func TestMarkerRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
		m    Marker
	}{
		{"exact", MarkerLen, Marker{StreamID: 1, Seq: 0, SendTime: 0}},
		{"prefix", 100, Marker{StreamID: 0xdeadbeef, Seq: 42, SendTime: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()}},
		{"max", MaxPayload, Marker{StreamID: ^uint32(0), Seq: ^uint32(0), SendTime: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := bytes.Repeat([]byte{0xa5}, tt.size)
			if err := PutMarker(p, tt.m); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p[len(p)-MarkerLen:len(p)-MarkerLen+4], []byte("LTH1")) {
				t.Fatalf("magic = %q", p[len(p)-MarkerLen:len(p)-MarkerLen+4])
			}
			got, ok := ParseMarker(p)
			if !ok || got != tt.m {
				t.Fatalf("ParseMarker = %+v, %v; want %+v", got, ok, tt.m)
			}
			if !got.Sent().Equal(time.Unix(0, tt.m.SendTime)) {
				t.Fatalf("Sent = %v", got.Sent())
			}
		})
	}
}

func TestMarkerTamper(t *testing.T) {
	t.Parallel()
	p := make([]byte, 64)
	for i := range p {
		p[i] = byte(i)
	}
	if err := PutMarker(p, Marker{StreamID: 7, Seq: 9, SendTime: 11}); err != nil {
		t.Fatal(err)
	}
	// Flipping any single bit anywhere must be detected.
	for i := range p {
		for bit := range 8 {
			q := bytes.Clone(p)
			q[i] ^= 1 << bit
			if _, ok := ParseMarker(q); ok {
				t.Fatalf("flip byte %d bit %d not detected", i, bit)
			}
		}
	}
	if _, ok := ParseMarker(p[1:]); ok {
		t.Fatal("truncated payload accepted")
	}
	if _, ok := ParseMarker(p[:MarkerLen-1]); ok {
		t.Fatal("short payload accepted")
	}
	if err := PutMarker(make([]byte, MarkerLen-1), Marker{}); err == nil {
		t.Fatal("PutMarker on short payload: no error")
	}
}

func FuzzParseMarker(f *testing.F) {
	good := make([]byte, 40)
	_ = PutMarker(good, Marker{StreamID: 3, Seq: 4, SendTime: 5})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("LTH1"))
	f.Add(bytes.Repeat([]byte{0}, MarkerLen))
	f.Add(append([]byte("xxLTH1"), make([]byte, 20)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := ParseMarker(b)
		if !ok {
			return
		}
		// Whatever parses must re-encode to the same bytes.
		q := bytes.Clone(b)
		if err := PutMarker(q, m); err != nil || !bytes.Equal(q, b) {
			t.Fatalf("re-encode differs: %x vs %x", q, b)
		}
	})
}

// A layer's marker names its layer; a single stream's marker stays
// "LTH1" and reads back without one.
func TestMarkerLayer(t *testing.T) {
	t.Parallel()
	for layer := range MaxMarkerLayer + 1 {
		p := make([]byte, 40)
		m := Marker{StreamID: 3, Seq: 4, SendTime: 5, Simulcast: true, Layer: layer}
		if err := PutMarker(p, m); err != nil {
			t.Fatal(err)
		}
		if want := "LTL" + string(rune('0'+layer)); string(p[16:20]) != want {
			t.Fatalf("magic %q, want %q", p[16:20], want)
		}
		if got, ok := ParseMarker(p); !ok || got != m {
			t.Fatalf("ParseMarker = %+v, %v; want %+v", got, ok, m)
		}
	}
	p := make([]byte, 40)
	for _, bad := range []int{-1, MaxMarkerLayer + 1} {
		if err := PutMarker(p, Marker{Simulcast: true, Layer: bad}); err == nil {
			t.Fatalf("layer %d accepted", bad)
		}
	}
	// Only the single-stream magic and the ten layer magics are markers.
	if err := PutMarker(p, Marker{StreamID: 1}); err != nil {
		t.Fatal(err)
	}
	if m, ok := ParseMarker(p); !ok || m.Simulcast || m.Layer != 0 {
		t.Fatalf("single-stream marker read as %+v, %v", m, ok)
	}
	p[19] = ':' // "LTL:" is no layer
	p[18] = 'L'
	if _, ok := ParseMarker(p); ok {
		t.Fatal(`"LTL:" parsed`)
	}
}
