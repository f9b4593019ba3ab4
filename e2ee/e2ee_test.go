package e2ee

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
)

// vector is one entry of testdata/vectors.json, which the Chromium test
// (e2e TestE2EEBrowser) decrypts with web/lethe-e2ee.js too.
type vector struct {
	Name        string `json:"name"`
	Secret      string `json:"secret"`
	Participant string `json:"participant"`
	KeyIndex    int    `json:"keyIndex"`
	Codec       string `json:"codec"` // "video/VP8", "audio/opus"
	Salt        string `json:"salt"`  // hex, 4 bytes
	Counter     uint64 `json:"counter"`
	Plain       string `json:"plain"`     // hex
	Encrypted   string `json:"encrypted"` // hex
}

// Fixed rings: PBKDF2 is slow, derive each secret once per test binary.
var (
	ringsMu sync.Mutex
	rings   = map[string]*Ring{}
)

func ringFor(t testing.TB, secret string, index int) *Ring {
	t.Helper()
	ringsMu.Lock()
	defer ringsMu.Unlock()
	key := secret + "\x00" + string(rune('a'+index))
	if r, ok := rings[key]; ok {
		return r
	}
	r := NewRing()
	if err := r.SetSecret(index, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if err := r.SetIndex(index); err != nil {
		t.Fatal(err)
	}
	rings[key] = r
	return r
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors: encrypting each vector's plaintext with its IV gives its
// bytes exactly, and decrypting them gives the plaintext back.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			r := ringFor(t, v.Secret, v.KeyIndex)
			c, err := CodecFor(v.Codec)
			if err != nil {
				t.Fatal(err)
			}
			e := r.NewEncryptor(v.Participant)
			copy(e.salt[:], unhex(t, v.Salt))
			e.ctr = v.Counter
			plain := unhex(t, v.Plain)
			got, err := e.Encrypt(nil, plain, c)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, v.Encrypted); !bytes.Equal(got, want) {
				t.Errorf("encrypted\n got %x\nwant %x", got, want)
			}
			dec, err := r.Decrypt(nil, unhex(t, v.Encrypted), v.Participant)
			if err != nil || !bytes.Equal(dec, plain) {
				t.Errorf("decrypted %x, %v; want %x", dec, err, plain)
			}
			if n := ClearLen(c, plain); !bytes.Equal(got[:n], plain[:n]) {
				t.Errorf("clear prefix %x, want %x", got[:n], plain[:n])
			}
		})
	}
}

func TestClearLen(t *testing.T) {
	key := []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xaa, 0xbb}
	inter := []byte{0x51, 0x01, 0x00, 0xaa, 0xbb}
	for _, tc := range []struct {
		name  string
		c     Codec
		frame []byte
		want  int
	}{
		{"vp8 keyframe", VP8, key, 10},
		{"vp8 interframe", VP8, inter, 3},
		{"vp8 short keyframe", VP8, key[:4], 4},
		{"vp8 empty", VP8, nil, 0},
		{"opus", Opus, []byte{0xfc, 1, 2, 3}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClearLen(tc.c, tc.frame); got != tc.want {
				t.Errorf("ClearLen = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCodecFor(t *testing.T) {
	for mime, want := range map[string]error{"video/VP8": nil, "audio/OPUS": nil, "video/H264": ErrCodec, "video/VP9": ErrCodec} {
		if _, err := CodecFor(mime); !errors.Is(err, want) {
			t.Errorf("CodecFor(%s) = %v, want %v", mime, err, want)
		}
	}
}

// TestDecryptRefuses: the wrong secret, the wrong participant, an
// altered clear byte, ciphertext byte or trailer, a missing index and
// short or malformed frames are all refused, and nothing is appended.
func TestDecryptRefuses(t *testing.T) {
	r := ringFor(t, "right secret", 0)
	wrong := ringFor(t, "wrong secret", 0)
	frame := []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 1, 2, 3, 4, 5, 6, 7, 8}
	enc, err := r.NewEncryptor("alice").Encrypt(nil, frame, VP8)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(enc)
		b[i] ^= 0x01
		return b
	}
	other := bytes.Clone(enc)
	other[len(other)-1] = 5 // index 5: no secret there
	for _, tc := range []struct {
		name  string
		ring  *Ring
		pid   string
		frame []byte
		want  error
	}{
		{"wrong secret", wrong, "alice", enc, ErrAuth},
		{"wrong participant", r, "bob", enc, ErrAuth},
		{"clear byte altered", r, "alice", flip(4), ErrAuth},
		{"ciphertext altered", r, "alice", flip(12), ErrAuth},
		{"tag altered", r, "alice", flip(len(enc) - TrailerLen - 1), ErrAuth},
		{"iv altered", r, "alice", flip(len(enc) - 5), ErrAuth},
		{"clear length altered", r, "alice", flip(len(enc) - 2), ErrAuth},
		{"no key at index", r, "alice", other, ErrNoKey},
		{"reserved index bits", r, "alice", append(bytes.Clone(enc[:len(enc)-1]), 0x10), ErrBadFrame},
		{"clear length beyond frame", r, "alice", append(bytes.Clone(enc[:len(enc)-2]), 200, 0), ErrBadFrame},
		{"short", r, "alice", enc[:Overhead-1], ErrShortFrame},
		{"plain frame", r, "alice", frame, ErrShortFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("x")
			out, err := tc.ring.Decrypt(dst, tc.frame, tc.pid)
			if !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if string(out) != "x" {
				t.Errorf("appended %q on failure", out[1:])
			}
		})
	}
}

// TestRotation: frames carry their index; a receiver holding both
// secrets decrypts frames sent before and after the sender moves on.
func TestRotation(t *testing.T) {
	send := NewRing()
	recv := NewRing()
	for i, s := range map[int]string{1: "first", 2: "second"} {
		for _, r := range []*Ring{send, recv} {
			if err := r.SetSecret(i, []byte(s)); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := send.NewEncryptor("p1")
	var frames [][]byte
	for _, idx := range []int{1, 2} {
		if err := send.SetIndex(idx); err != nil {
			t.Fatal(err)
		}
		f, err := e.Encrypt(nil, []byte{0x51, 0, 0, 9, 9, 9}, VP8)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := KeyIndex(f); got != idx {
			t.Errorf("frame index %d, want %d", got, idx)
		}
		frames = append(frames, f)
	}
	for i, f := range frames {
		if _, err := recv.Decrypt(nil, f, "p1"); err != nil {
			t.Errorf("frame %d: %v", i, err)
		}
	}
	// Replacing a secret drops its cached keys.
	if err := recv.SetSecret(1, []byte("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := recv.Decrypt(nil, frames[0], "p1"); !errors.Is(err, ErrAuth) {
		t.Errorf("old frame under a replaced secret: %v, want ErrAuth", err)
	}
	if err := send.SetIndex(RingSize); !errors.Is(err, ErrKeyIndex) {
		t.Errorf("SetIndex(RingSize) = %v", err)
	}
	if err := send.SetSecret(0, nil); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("empty secret: %v", err)
	}
	if _, err := NewRing().NewEncryptor("p").Encrypt(nil, []byte{1}, Opus); !errors.Is(err, ErrNoKey) {
		t.Errorf("encrypt without a secret: %v", err)
	}
}

// TestIVsDiffer: two frames never share an IV.
func TestIVsDiffer(t *testing.T) {
	e := ringFor(t, "right secret", 0).NewEncryptor("alice")
	seen := map[string]bool{}
	for range 100 {
		f, err := e.Encrypt(nil, []byte{1, 2, 3}, Opus)
		if err != nil {
			t.Fatal(err)
		}
		iv := string(f[len(f)-TrailerLen : len(f)-2])
		if seen[iv] {
			t.Fatal("IV reused")
		}
		seen[iv] = true
	}
}

// FuzzDecrypt: any bytes decrypt or fail cleanly.
func FuzzDecrypt(f *testing.F) {
	r := ringFor(f, "right secret", 0)
	enc, _ := r.NewEncryptor("alice").Encrypt(nil, []byte{0x50, 1, 0, 0x9d, 1, 0x2a, 1, 0, 1, 0, 7}, VP8)
	f.Add(enc)
	f.Add([]byte{})
	f.Add(make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := r.Decrypt(nil, b, "alice")
		if err == nil && len(out) != len(b)-Overhead {
			t.Fatalf("plaintext of %d bytes from %d", len(out), len(b))
		}
	})
}

func benchFrame(n int) []byte {
	b := make([]byte, n)
	b[0] = 0x51 // an interframe
	return b
}

// BenchmarkEncrypt and BenchmarkDecrypt: the client-side cost per frame
// (docs/performance.md): a 1,250-byte frame is 300 kbit/s at 30 fps.
func BenchmarkEncrypt(b *testing.B) {
	for _, n := range []int{160, 1250, 12000} {
		b.Run(itoa(n), func(b *testing.B) {
			e := ringFor(b, "bench", 0).NewEncryptor("alice")
			frame := benchFrame(n)
			dst := make([]byte, 0, n+Overhead)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Encrypt(dst[:0], frame, VP8); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, n := range []int{160, 1250, 12000} {
		b.Run(itoa(n), func(b *testing.B) {
			r := ringFor(b, "bench", 0)
			enc, err := r.NewEncryptor("alice").Encrypt(nil, benchFrame(n), VP8)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Decrypt(dst[:0], enc, "alice"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
