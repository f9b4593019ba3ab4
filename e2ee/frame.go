package e2ee

import (
	"crypto/cipher"
	"encoding/binary"
	"strings"
)

// Codec says which leading bytes of a frame stay clear.
type Codec uint8

// Codecs with an E2EE frame layout.
const (
	// VP8: the 3-byte frame tag of an inter frame; for a keyframe also
	// its start code and picture size (10 bytes, RFC 6386 §9.1).
	VP8 Codec = iota + 1
	// Opus: nothing clear (the SFU reads no Opus byte: levels come from
	// the RFC 6464 header extension).
	Opus
)

// CodecFor returns the Codec of a MIME type ("video/VP8", "audio/opus");
// ErrCodec for any other (H.264 included).
func CodecFor(mime string) (Codec, error) {
	switch {
	case strings.EqualFold(mime, "video/VP8"):
		return VP8, nil
	case strings.EqualFold(mime, "audio/opus"):
		return Opus, nil
	}
	return 0, ErrCodec
}

// Frame format sizes.
const (
	KeyLen     = 16 // AES-128
	IVLen      = 12
	TagLen     = 16
	TrailerLen = IVLen + 2 // IV, clear length, key index
	// Overhead is what encryption adds to a frame.
	Overhead = TagLen + TrailerLen
	// RingSize is the number of key indexes (0..RingSize-1).
	RingSize = 16
	// vp8KeyClear and vp8InterClear: see VP8.
	vp8KeyClear   = 10
	vp8InterClear = 3
)

// ClearLen is how many leading bytes of frame stay clear for codec c.
func ClearLen(c Codec, frame []byte) int {
	if c != VP8 || len(frame) == 0 {
		return 0
	}
	n := vp8InterClear
	if frame[0]&0x01 == 0 { // P bit clear: a keyframe
		n = vp8KeyClear
	}
	return min(n, len(frame))
}

// seal appends to dst the encrypted form of frame:
//
//	clear[n] | AES-GCM(frame[n:], aad = clear) | tag[16] | iv[12] | n | index
//
// dst's spare capacity must not overlap frame.
func seal(dst []byte, aead cipher.AEAD, iv *[IVLen]byte, index uint8, n int, frame []byte) []byte {
	dst = append(dst, frame[:n]...)
	dst = aead.Seal(dst, iv[:], frame[n:], frame[:n])
	dst = append(dst, iv[:]...)
	return append(dst, byte(n), index)
}

// parsed is a frame's trailer, read.
type parsed struct {
	index uint8
	clear int
	iv    []byte
	body  []byte // ciphertext and tag
}

// parse reads the trailer of an encrypted frame.
func parse(frame []byte) (parsed, error) {
	if len(frame) < Overhead {
		return parsed{}, ErrShortFrame
	}
	t := len(frame) - TrailerLen
	index, n := frame[len(frame)-1], int(frame[len(frame)-2])
	if index >= RingSize {
		return parsed{}, ErrBadFrame // the high bits are reserved (a format version)
	}
	if n+TagLen > t {
		return parsed{}, ErrBadFrame
	}
	return parsed{index: index, clear: n, iv: frame[t : t+IVLen], body: frame[n:t]}, nil
}

// KeyIndex returns the key index an encrypted frame names.
func KeyIndex(frame []byte) (int, error) {
	p, err := parse(frame)
	if err != nil {
		return 0, err
	}
	return int(p.index), nil
}

// open appends the plaintext of an encrypted frame to dst.
func open(dst []byte, aead cipher.AEAD, frame []byte, p parsed) ([]byte, error) {
	clear := frame[:p.clear]
	dst = append(dst, clear...)
	out, err := aead.Open(dst, p.iv, p.body, clear)
	if err != nil {
		return dst[:len(dst)-p.clear], ErrAuth
	}
	return out, nil
}

// putCounter writes the IV: a 4-byte per-sender salt, then a 64-bit
// counter, big-endian.
func putCounter(iv *[IVLen]byte, salt [4]byte, ctr uint64) {
	copy(iv[:4], salt[:])
	binary.BigEndian.PutUint64(iv[4:], ctr)
}
