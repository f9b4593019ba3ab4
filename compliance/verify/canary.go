package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"strconv"
)

// CanaryLen is the length of a canary. It is a multiple of 3, so that the
// base64 encoding of the repeated canary is periodic, and of 8.
const CanaryLen = 48

// MinWindow is the shortest run of canary bytes the Matcher is bound to
// find, in any encoding it knows, starting at any offset of the canary.
const MinWindow = 16

// Encodings the Matcher knows. Each is how a program could plausibly put
// media bytes into a file or a log line.
const (
	EncRaw       = "raw"
	EncHex       = "hex"        // 0a1b2c...
	EncHexUpper  = "HEX"        // 0A1B2C...
	EncHexSpaced = "hex-spaced" // fmt "% x": 0a 1b 2c
	EncDecimal   = "decimal"    // fmt "%v" of a []byte: 10 27 44
	EncBase64    = "base64"     // standard alphabet, at each of the 3 byte alignments
	EncBase64URL = "base64url"  // URL alphabet, at each of the 3 byte alignments
)

// Canary is a random byte pattern a verification run puts into every
// media payload it sends (repeated, continuing from payload to payload),
// so that any trace of that media can be recognised. It has no zero byte
// (H.264 forbids two in a row). It is never written anywhere by the
// verifier: reports show its Fingerprint.
type Canary struct{ b []byte }

// NewCanary reads a fresh canary from r (crypto/rand.Reader).
func NewCanary(r io.Reader) (Canary, error) {
	b := make([]byte, CanaryLen)
	var one [1]byte
	for i := range b {
		for b[i] == 0 {
			if _, err := io.ReadFull(r, one[:]); err != nil {
				return Canary{}, fmt.Errorf("canary: %w", err)
			}
			b[i] = one[0]
		}
	}
	return Canary{b: b}, nil
}

// CanaryFrom makes a canary of given bytes: CanaryLen bytes, none zero.
func CanaryFrom(b []byte) (Canary, error) {
	if len(b) != CanaryLen {
		return Canary{}, fmt.Errorf("canary of %d bytes, want %d: %w", len(b), CanaryLen, ErrBadCanary)
	}
	for _, c := range b {
		if c == 0 {
			return Canary{}, fmt.Errorf("canary with a zero byte: %w", ErrBadCanary)
		}
	}
	return Canary{b: append([]byte(nil), b...)}, nil
}

// Bytes returns a copy of the canary.
func (c Canary) Bytes() []byte { return append([]byte(nil), c.b...) }

// Fingerprint names the canary in reports without revealing it: the first
// 8 bytes of its SHA-256, in hex.
func (c Canary) Fingerprint() string {
	h := sha256.Sum256(c.b)
	return hex.EncodeToString(h[:8])
}

// Match is one place where the canary was found.
type Match struct {
	// Offset of the first matching byte in the scanned data.
	Offset int64 `json:"offset"`
	// Len is the number of bytes of the data that match the encoded
	// canary stream there.
	Len int `json:"len"`
	// Encoding is one of the Enc constants.
	Encoding string `json:"encoding"`
}

// stream is the periodic text of the repeated canary in one encoding (at
// one alignment): position k of the endless stream is text[k%len(text)].
type stream struct {
	enc  string
	text []byte
	// min is the shortest match that counts: the length of the shortest
	// encoding of MinWindow canary bytes. Always >= keyLen+keyStride-1,
	// so that every such match contains a sampled key.
	min int
}

const (
	keyLen    = 8 // bytes of data read as one key
	keyStride = 8 // keys are sampled every keyStride bytes
	bloomBits = 16
)

type keyRef struct {
	stream int
	pos    int // position in the stream's text where the key starts
}

// Matcher finds the canary in data: raw, hex (both cases, with or without
// spaces), decimal, and base64 (both alphabets, at each alignment), at any
// offset of the canary. It samples an 8-byte key every 8 bytes of the data
// and extends candidate hits both ways, so it reads each byte about once.
// It is safe for concurrent use.
type Matcher struct {
	streams []stream
	keys    map[uint64][]keyRef
	bloom   [1 << bloomBits / 64]uint64
	maxMin  int
}

// NewMatcher prepares a Matcher for c.
func NewMatcher(c Canary) *Matcher {
	m := &Matcher{keys: make(map[uint64][]keyRef)}
	perByte := []struct {
		enc string
		f   func(b byte) string
		sep string
	}{
		{EncRaw, func(b byte) string { return string([]byte{b}) }, ""},
		{EncHex, func(b byte) string { return hex.EncodeToString([]byte{b}) }, ""},
		{EncHexUpper, func(b byte) string { return fmt.Sprintf("%02X", b) }, ""},
		{EncHexSpaced, func(b byte) string { return hex.EncodeToString([]byte{b}) }, " "},
		{EncDecimal, func(b byte) string { return strconv.Itoa(int(b)) }, " "},
	}
	for _, e := range perByte {
		var text []byte
		for _, b := range c.b {
			text = append(text, e.f(b)...)
			text = append(text, e.sep...)
		}
		// The shortest encoding of MinWindow consecutive canary bytes,
		// without the separator after the last one.
		shortest := len(text)
		for i := range c.b {
			n := 0
			for j := range MinWindow {
				n += len(e.f(c.b[(i+j)%len(c.b)])) + len(e.sep)
			}
			shortest = min(shortest, n-len(e.sep))
		}
		m.add(stream{enc: e.enc, text: text, min: shortest})
	}
	// base64: MinWindow bytes at any alignment hold at least 4 whole
	// 3-byte groups (16 characters) made of canary bytes only.
	for _, e := range []struct {
		enc string
		b64 *base64.Encoding
	}{{EncBase64, base64.StdEncoding}, {EncBase64URL, base64.URLEncoding}} {
		for a := range 3 {
			rot := append(append([]byte(nil), c.b[a:]...), c.b[:a]...)
			m.add(stream{enc: e.enc, text: []byte(e.b64.EncodeToString(rot)), min: (MinWindow - 2) / 3 * 4})
		}
	}
	return m
}

// add indexes every key of s. s.min must be at least keyLen+keyStride-1
// (TestMatcherStreamsSampled checks it).
func (m *Matcher) add(s stream) {
	idx := len(m.streams)
	m.streams = append(m.streams, s)
	m.maxMin = max(m.maxMin, s.min)
	n := len(s.text)
	buf := make([]byte, keyLen)
	for pos := range n {
		for j := range keyLen {
			buf[j] = s.text[(pos+j)%n]
		}
		k := binary.LittleEndian.Uint64(buf)
		m.keys[k] = append(m.keys[k], keyRef{stream: idx, pos: pos})
		h := bloomHash(k)
		m.bloom[h/64] |= 1 << (h % 64)
	}
}

func bloomHash(k uint64) uint64 {
	hi, _ := bits.Mul64(k, 0x9e3779b97f4a7c15)
	return hi & (1<<bloomBits - 1)
}

// Overlap is how many bytes consecutive chunks of a stream must share for
// a Matcher to find every match that crosses a chunk boundary.
func (m *Matcher) Overlap() int { return m.maxMin }

// Contains reports whether b holds the canary in any known encoding.
// It does not allocate.
func (m *Matcher) Contains(b []byte) bool {
	found := false
	m.scan(b, func(Match) bool { found = true; return false })
	return found
}

// Find returns the matches in b, at most limit of them (limit <= 0: all),
// in order of offset. Overlapping candidates are reported once.
func (m *Matcher) Find(b []byte, limit int) []Match {
	var out []Match
	m.scan(b, func(x Match) bool {
		out = append(out, x)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// scan calls found for each match until it returns false.
func (m *Matcher) scan(b []byte, found func(Match) bool) {
	for q := 0; q+keyLen <= len(b); q += keyStride {
		k := binary.LittleEndian.Uint64(b[q:])
		h := bloomHash(k)
		if m.bloom[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		best, ok := m.extend(b, q, m.keys[k])
		if !ok {
			continue
		}
		if !found(best) {
			return
		}
		// Go on after the match, at the next sampled position.
		end := int(best.Offset) + best.Len
		if next := (end - keyLen + keyStride) / keyStride * keyStride; next > q+keyStride {
			q = next - keyStride
		}
	}
}

// extend grows each candidate at q both ways along its stream and returns
// the longest that reaches its stream's minimum.
func (m *Matcher) extend(b []byte, q int, refs []keyRef) (Match, bool) {
	var best Match
	ok := false
	for _, r := range refs {
		s := &m.streams[r.stream]
		n := len(s.text)
		back := 0
		for i := r.pos; q-back > 0; {
			if i--; i < 0 {
				i = n - 1
			}
			if b[q-back-1] != s.text[i] {
				break
			}
			back++
		}
		fwd := 0
		for i := (r.pos + keyLen) % n; q+keyLen+fwd < len(b); {
			if b[q+keyLen+fwd] != s.text[i] {
				break
			}
			fwd++
			if i++; i == n {
				i = 0
			}
		}
		l := back + keyLen + fwd
		if l >= s.min && l > best.Len {
			best = Match{Offset: int64(q - back), Len: l, Encoding: s.enc}
			ok = true
		}
	}
	return best, ok
}
