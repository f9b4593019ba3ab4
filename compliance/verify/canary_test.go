package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// testCanary is a fixed canary: bytes 1..48.
func testCanary(t testing.TB) Canary {
	t.Helper()
	b := make([]byte, CanaryLen)
	for i := range b {
		b[i] = byte(i*37 + 1)
		if b[i] == 0 {
			b[i] = 0xAA
		}
	}
	c, err := CanaryFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// window returns n bytes of the repeated canary starting at offset off.
func window(c Canary, off, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = c.b[(off+i)%len(c.b)]
	}
	return out
}

// junk is deterministic filler that holds no canary.
func junk(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func spaced(b []byte) string { return fmt.Sprintf("% x", b) }
func decimal(b []byte) string {
	s := fmt.Sprintf("%v", b)
	return s[1 : len(s)-1]
}

func TestMatcherFindsEveryOffsetAndEncoding(t *testing.T) {
	t.Parallel()
	c := testCanary(t)
	m := NewMatcher(c)
	encoders := []struct {
		enc string
		f   func([]byte) string
	}{
		{EncRaw, func(b []byte) string { return string(b) }},
		{EncHex, hex.EncodeToString},
		{EncHexUpper, func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }},
		{EncHexSpaced, spaced},
		{EncDecimal, decimal},
	}
	for _, e := range encoders {
		t.Run(e.enc, func(t *testing.T) {
			t.Parallel()
			for off := range CanaryLen {
				for pre := range 8 { // every alignment to the sampling stride
					data := append(junk(pre+40, uint64(off)), e.f(window(c, off, MinWindow))...)
					data = append(data, junk(40, 99)...)
					got := m.Find(data, 0)
					if len(got) != 1 || got[0].Encoding != e.enc {
						t.Fatalf("offset %d, prefix %d: %+v", off, pre, got)
					}
				}
			}
		})
	}
	for _, e := range []struct {
		enc string
		b64 *base64.Encoding
	}{{EncBase64, base64.StdEncoding}, {EncBase64URL, base64.URLEncoding}} {
		t.Run(e.enc, func(t *testing.T) {
			t.Parallel()
			for off := range CanaryLen {
				for align := range 3 { // bytes before the window in the encoded data
					for pre := range 8 {
						raw := append(junk(align, 5), window(c, off, MinWindow)...)
						raw = append(raw, junk(2, 6)...)
						data := append([]byte(strings.Repeat("=", pre)+"x"), e.b64.EncodeToString(raw)...)
						if !m.Contains(data) {
							t.Fatalf("offset %d, alignment %d, prefix %d: not found in %q", off, align, pre, data)
						}
					}
				}
			}
		})
	}
}

// Every match a stream counts is long enough to hold a sampled key.
func TestMatcherStreamsSampled(t *testing.T) {
	t.Parallel()
	m := NewMatcher(testCanary(t))
	if len(m.streams) != 11 {
		t.Fatalf("%d streams", len(m.streams))
	}
	for _, s := range m.streams {
		if s.min < keyLen+keyStride-1 {
			t.Errorf("%s: minimum match %d is shorter than the sampling guarantees", s.enc, s.min)
		}
	}
}

func TestMatcherNegatives(t *testing.T) {
	t.Parallel()
	c := testCanary(t)
	m := NewMatcher(c)
	other := make([]byte, CanaryLen)
	copy(other, c.b)
	other[0] ^= 0xFF
	other[20] ^= 0xFF
	flipped := window(c, 3, MinWindow)
	flipped[8] ^= 0x01
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"zeros", make([]byte, 4096)},
		{"random", junk(1<<16, 1)},
		{"raw 15 bytes", window(c, 5, MinWindow-1)},
		{"hex 15 bytes", []byte(hex.EncodeToString(window(c, 9, MinWindow-1)))},
		{"base64 11 bytes", []byte(base64.StdEncoding.EncodeToString(window(c, 9, 11)))},
		{"one byte changed in the middle", flipped},
		{"bytes 10..29 of a canary differing at 20", other[10:30]},
		{"reversed", func() []byte { b := window(c, 0, 32); slicesReverse(b); return b }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := append(append(junk(13, 2), tt.data...), junk(13, 3)...)
			if got := m.Find(data, 0); len(got) != 0 {
				t.Fatalf("false match: %+v", got)
			}
		})
	}
}

func slicesReverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

func TestMatcherLongLeakAndLimit(t *testing.T) {
	t.Parallel()
	c := testCanary(t)
	m := NewMatcher(c)
	// Three separate leaks of a long run; each is reported once.
	var data []byte
	for i := range 3 {
		data = append(data, junk(100, uint64(i))...)
		data = append(data, window(c, 11*i, 500)...)
	}
	got := m.Find(data, 0)
	if len(got) != 3 {
		t.Fatalf("%d matches, want 3: %+v", len(got), got)
	}
	if got[0].Offset != 100 || got[0].Len != 500 {
		t.Fatalf("first match %+v, want offset 100 len 500", got[0])
	}
	if got := m.Find(data, 1); len(got) != 1 {
		t.Fatalf("limit 1: %d matches", len(got))
	}
}

func TestScanReaderChunkBoundaries(t *testing.T) {
	t.Parallel()
	c := testCanary(t)
	m := NewMatcher(c)
	for _, at := range []int{0, scanChunk - 20, scanChunk - 8, scanChunk, scanChunk + m.Overlap() - 3, 2*scanChunk + 5} {
		data := junk(3*scanChunk, 4)
		copy(data[at:], window(c, 7, MinWindow))
		res, err := m.ScanReader(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Count != 1 || res.Matches[0].Offset != int64(at) || res.Scanned != int64(len(data)) {
			t.Fatalf("at %d: %+v", at, res)
		}
	}
	// A limit stops the scan and says so.
	data := junk(3*scanChunk, 4)
	copy(data[2*scanChunk:], window(c, 0, MinWindow))
	res, err := m.ScanReader(bytes.NewReader(data), scanChunk)
	if err != nil || res.Found() || !res.Truncated || res.Scanned != scanChunk {
		t.Fatalf("limited scan: %+v %v", res, err)
	}
}

// naiveContains is the reference: any run of at least a stream's minimum
// that equals part of that stream.
func naiveContains(m *Matcher, data []byte) bool {
	for _, s := range m.streams {
		n := len(s.text)
		for i := range data {
			for k := range n {
				l := 0
				for i+l < len(data) && data[i+l] == s.text[(k+l)%n] {
					l++
				}
				if l >= s.min {
					return true
				}
			}
		}
	}
	return false
}

func FuzzMatcher(f *testing.F) {
	c := testCanary(f)
	m := NewMatcher(c)
	f.Add([]byte("nothing here"))
	f.Add(window(c, 3, 16))
	f.Add(window(c, 3, 15))
	f.Add(append([]byte("ab"), hex.EncodeToString(window(c, 40, 16))...))
	f.Add([]byte(base64.URLEncoding.EncodeToString(window(c, 47, 14))))
	f.Add([]byte(decimal(window(c, 1, 17))))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 300 {
			return
		}
		if got, want := m.Contains(data), naiveContains(m, data); got != want {
			t.Fatalf("Contains = %v, reference %v", got, want)
		}
	})
}

func TestCanary(t *testing.T) {
	t.Parallel()
	c, err := NewCanary(bytes.NewReader(append(bytes.Repeat([]byte{0}, 10), junk(200, 9)...)))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Bytes(); len(b) != CanaryLen || bytes.IndexByte(b, 0) >= 0 {
		t.Fatalf("canary % x", b)
	}
	if len(c.Fingerprint()) != 16 || strings.Contains(c.Fingerprint(), hex.EncodeToString(c.b[:4])) {
		t.Fatal("fingerprint")
	}
	if _, err := NewCanary(bytes.NewReader(nil)); err == nil {
		t.Fatal("canary from nothing")
	}
	for _, b := range [][]byte{nil, make([]byte, CanaryLen), bytes.Repeat([]byte{1}, CanaryLen+1)} {
		if _, err := CanaryFrom(b); err == nil {
			t.Fatalf("CanaryFrom(% x) accepted", b)
		}
	}
}

func BenchmarkMatcherScan(b *testing.B) {
	m := NewMatcher(testCanary(b))
	data := junk(1<<20, 8)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if m.Contains(data) {
			b.Fatal("false match")
		}
	}
}

func BenchmarkMatcherPayload(b *testing.B) {
	c := testCanary(b)
	m := NewMatcher(c)
	p := append(junk(40, 1), window(c, 0, 1100)...)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if !m.Contains(p) {
			b.Fatal("miss")
		}
	}
}
