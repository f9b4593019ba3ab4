package datamsg

import (
	"errors"
	"unicode/utf8"
)

// Version is the only frame version there is.
const Version = 1

// Flags of a frame.
const (
	// FlagText marks a payload that is UTF-8 text (a string in
	// JavaScript), not bytes.
	FlagText byte = 1 << 0
	// FlagPrivate marks a relayed frame that was addressed to its
	// receiver by name, not to the whole room. Clients do not set it.
	FlagPrivate byte = 1 << 1

	knownFlags = FlagText | FlagPrivate
)

// Limits of a frame's header.
const (
	MaxID    = 64 // bytes of a sender or destination participant id
	MaxTopic = 64 // bytes of a topic
	MaxTo    = 16 // destinations of one frame
	// MaxHeader is the longest header a frame may have.
	MaxHeader = 2 + 1 + MaxID + 1 + MaxTopic + 1 + MaxTo*(1+MaxID)
)

// Errors of Parse. Each also matches ErrMalformed.
var (
	ErrMalformed = errors.New("datamsg: malformed frame")
	ErrShort     = wrap("frame shorter than its header")
	ErrVersion   = wrap("unknown frame version")
	ErrFlags     = wrap("unknown flags")
	ErrID        = wrap("a participant id is empty or longer than 64 bytes")
	ErrTopic     = wrap("topic longer than 64 bytes, or not UTF-8")
	ErrTo        = wrap("more than 16 destinations")
	ErrText      = wrap("text payload not UTF-8")
)

type parseError struct{ text string }

func (e *parseError) Error() string        { return "datamsg: " + e.text }
func (e *parseError) Is(target error) bool { return target == ErrMalformed }

func wrap(text string) error { return &parseError{text} }

// Message is one frame, read in place: its slices point into the bytes
// Parse read.
type Message struct {
	Flags   byte
	Sender  []byte // empty in a client's frame
	Topic   []byte
	to      []byte // the destinations as framed
	NTo     int    // how many destinations
	Payload []byte
}

// Text reports whether the payload is text.
func (m *Message) Text() bool { return m.Flags&FlagText != 0 }

// Private reports whether a relayed frame was addressed by name.
func (m *Message) Private() bool { return m.Flags&FlagPrivate != 0 }

// To returns the i-th destination (0 ≤ i < NTo).
func (m *Message) To(i int) []byte {
	b := m.to
	for ; i > 0; i-- {
		b = b[1+int(b[0]):]
	}
	return b[1 : 1+int(b[0])]
}

// ToIndex returns the index of destination id among m's, or -1.
func (m *Message) ToIndex(id string) int {
	b := m.to
	for i := 0; i < m.NTo; i++ {
		n := int(b[0])
		if string(b[1:1+n]) == id {
			return i
		}
		b = b[1+n:]
	}
	return -1
}

// Parse reads frame b into m. m's slices point into b. A text payload
// must be UTF-8; the topic must be too.
func Parse(b []byte, m *Message) error {
	if len(b) < 5 {
		return ErrShort
	}
	if b[0] != Version {
		return ErrVersion
	}
	*m = Message{Flags: b[1]}
	if m.Flags&^knownFlags != 0 {
		return ErrFlags
	}
	rest := b[2:]
	n := int(rest[0])
	if n > MaxID {
		return ErrID
	}
	if len(rest) < 1+n+1 {
		return ErrShort
	}
	m.Sender, rest = rest[1:1+n], rest[1+n:]
	n = int(rest[0])
	if n > MaxTopic {
		return ErrTopic
	}
	if len(rest) < 1+n+1 {
		return ErrShort
	}
	m.Topic, rest = rest[1:1+n], rest[1+n:]
	if !utf8.Valid(m.Topic) {
		return ErrTopic
	}
	m.NTo, rest = int(rest[0]), rest[1:]
	if m.NTo > MaxTo {
		return ErrTo
	}
	start := rest
	for i := 0; i < m.NTo; i++ {
		if len(rest) < 1 {
			return ErrShort
		}
		n := int(rest[0])
		if n == 0 || n > MaxID {
			return ErrID
		}
		if len(rest) < 1+n {
			return ErrShort
		}
		rest = rest[1+n:]
	}
	m.to = start[:len(start)-len(rest)]
	m.Payload = rest
	if m.Text() && !utf8.Valid(m.Payload) {
		return ErrText
	}
	return nil
}

// AppendRelay appends the frame the SFU relays: sender set, topic and
// payload as received, no destinations. The caller has checked the
// lengths (a sender of at most MaxID bytes, a topic of MaxTopic).
func AppendRelay(dst []byte, flags byte, sender string, topic, payload []byte) []byte {
	dst = append(dst, Version, flags, byte(len(sender)))
	dst = append(dst, sender...)
	dst = append(dst, byte(len(topic)))
	dst = append(dst, topic...)
	dst = append(dst, 0)
	return append(dst, payload...)
}

// AppendSend appends a client's frame: no sender, the given destinations
// (none: the room). It checks the limits Parse checks.
func AppendSend(dst []byte, flags byte, topic string, to []string, payload []byte) ([]byte, error) {
	switch {
	case flags&^FlagText != 0:
		return dst, ErrFlags
	case len(topic) > MaxTopic || !utf8.ValidString(topic):
		return dst, ErrTopic
	case len(to) > MaxTo:
		return dst, ErrTo
	case flags&FlagText != 0 && !utf8.Valid(payload):
		return dst, ErrText
	}
	for _, id := range to {
		if id == "" || len(id) > MaxID {
			return dst, ErrID
		}
	}
	dst = append(dst, Version, flags, 0, byte(len(topic)))
	dst = append(dst, topic...)
	dst = append(dst, byte(len(to)))
	for _, id := range to {
		dst = append(dst, byte(len(id)))
		dst = append(dst, id...)
	}
	return append(dst, payload...), nil
}
