package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"sync"
)

// Key derivation parameters (protocol.md §3.13).
const (
	// PBKDF2Iterations stretch a secret once per key index.
	PBKDF2Iterations = 100_000
	// pbkdf2Salt is the fixed salt of that stretch; the participant id
	// salts the second step.
	pbkdf2Salt = "lethe-e2ee-v1"
	// hkdfInfo is HKDF's info for a participant's frame key.
	hkdfInfo = "lethe-e2ee-v1 frame key"
	// maxCached bounds the derived participant keys kept: past it the
	// cache starts again (derivation is one HKDF).
	maxCached = 4096
)

type cacheKey struct {
	index uint8
	pid   string
}

// Ring holds up to RingSize room secrets by key index and the
// participant keys derived from them. The sending index (SetIndex) names
// the secret new frames use; frames are decrypted with the secret of the
// index they carry, so a rotation needs no agreement on when it happens:
// set the new secret everywhere, then move the sending index. Safe for
// concurrent use.
type Ring struct {
	mu      sync.RWMutex
	masters [RingSize][]byte // stretched secrets; nil: none at that index
	gen     [RingSize]uint64 // +1 per SetSecret of the index
	index   uint8
	keys    map[cacheKey]cipher.AEAD
}

// NewRing returns an empty ring sending with index 0.
func NewRing() *Ring { return &Ring{keys: make(map[cacheKey]cipher.AEAD)} }

// NewRingWith is NewRing with secret at index 0.
func NewRingWith(secret []byte) (*Ring, error) {
	r := NewRing()
	if err := r.SetSecret(0, secret); err != nil {
		return nil, err
	}
	return r, nil
}

// SetSecret stretches secret (PBKDF2-SHA256) into the master key of
// index, replacing what was there. It takes tens of milliseconds.
func (r *Ring) SetSecret(index int, secret []byte) error {
	if index < 0 || index >= RingSize {
		return ErrKeyIndex
	}
	if len(secret) == 0 {
		return ErrEmptySecret
	}
	m, err := pbkdf2.Key(sha256.New, string(secret), []byte(pbkdf2Salt), PBKDF2Iterations, 32)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.masters[index] = m
	r.gen[index]++
	for k := range r.keys {
		if int(k.index) == index {
			delete(r.keys, k)
		}
	}
	return nil
}

// SetIndex makes index the key index of the frames encrypted from now on.
func (r *Ring) SetIndex(index int) error {
	if index < 0 || index >= RingSize {
		return ErrKeyIndex
	}
	r.mu.Lock()
	r.index = uint8(index)
	r.mu.Unlock()
	return nil
}

// Index returns the sending key index.
func (r *Ring) Index() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return int(r.index)
}

// aead returns participant pid's key at index.
func (r *Ring) aead(index uint8, pid string) (cipher.AEAD, error) {
	r.mu.RLock()
	a, ok := r.keys[cacheKey{index, pid}]
	m, gen := r.masters[index], r.gen[index]
	r.mu.RUnlock()
	if ok {
		return a, nil
	}
	if m == nil {
		return nil, ErrNoKey
	}
	a, err := participantKey(m, pid)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen[index] != gen {
		return a, nil // the secret changed meanwhile: do not cache the old one
	}
	if len(r.keys) >= maxCached {
		clear(r.keys)
	}
	r.keys[cacheKey{index, pid}] = a
	return a, nil
}

// participantKey derives participant pid's AES-128-GCM key from a master.
func participantKey(master []byte, pid string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, master, []byte(pid), hkdfInfo, KeyLen)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Decrypt appends the plaintext of frame, encrypted by participant pid,
// to dst. A frame that does not authenticate gives ErrAuth and appends
// nothing.
func (r *Ring) Decrypt(dst, frame []byte, pid string) ([]byte, error) {
	p, err := parse(frame)
	if err != nil {
		return dst, err
	}
	a, err := r.aead(p.index, pid)
	if err != nil {
		return dst, err
	}
	return open(dst, a, frame, p)
}

// Encryptor encrypts one participant's frames with its ring's sending
// index. Its IVs are a random 4-byte salt and a counter; one goroutine at
// a time (it locks).
type Encryptor struct {
	ring *Ring
	pid  string

	mu   sync.Mutex
	salt [4]byte
	ctr  uint64
	iv   [IVLen]byte
}

// NewEncryptor returns an Encryptor for participant pid's frames.
func (r *Ring) NewEncryptor(pid string) *Encryptor {
	e := &Encryptor{ring: r, pid: pid}
	_, _ = rand.Read(e.salt[:]) // never fails (crypto/rand)
	return e
}

// Encrypt appends the encrypted form of frame (codec c) to dst, whose
// spare capacity must not overlap frame.
func (e *Encryptor) Encrypt(dst, frame []byte, c Codec) ([]byte, error) {
	if c != VP8 && c != Opus {
		return dst, ErrCodec
	}
	e.ring.mu.RLock()
	index := e.ring.index
	e.ring.mu.RUnlock()
	a, err := e.ring.aead(index, e.pid)
	if err != nil {
		return dst, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	putCounter(&e.iv, e.salt, e.ctr)
	e.ctr++
	return seal(dst, a, &e.iv, index, ClearLen(c, frame), frame), nil
}
