package e2ee

import "errors"

// Errors.
var (
	// ErrCodec: a codec without an E2EE frame layout (H.264: see
	// protocol.md §3.13).
	ErrCodec = errors.New("e2ee: codec not supported")
	// ErrKeyIndex: a key index outside 0..RingSize-1.
	ErrKeyIndex = errors.New("e2ee: key index out of range")
	// ErrNoKey: no secret was set at the frame's (or the sending) key index.
	ErrNoKey = errors.New("e2ee: no key at this index")
	// ErrShortFrame: a frame too short to carry the trailer.
	ErrShortFrame = errors.New("e2ee: frame too short")
	// ErrBadFrame: a trailer that does not describe the frame (reserved
	// bits set, clear length beyond the frame).
	ErrBadFrame = errors.New("e2ee: malformed frame")
	// ErrAuth: the frame does not decrypt under the key its index names
	// (another secret, another participant's key, or altered bytes).
	ErrAuth = errors.New("e2ee: frame does not authenticate")
	// ErrEmptySecret: a secret of no bytes.
	ErrEmptySecret = errors.New("e2ee: empty secret")
)
