package ipc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MaxFrame is the largest frame either side accepts.
const MaxFrame = 1 << 20

// ErrFrameTooLarge is returned for a frame over MaxFrame.
var ErrFrameTooLarge = errors.New("ipc: frame too large")

// Operations.
const (
	OpStart    = "start"    // control → worker, its first frame: secrets it needs; Data is a signaling.Start
	OpReady    = "ready"    // worker → control: locked down and serving; Data is a signaling.Ready
	OpOpen     = "open"     // control → worker: a participant joins; Data is a signaling.Open
	OpMsg      = "msg"      // both: one signaling message for session Session
	OpClose    = "close"    // control → worker: the client is gone
	OpControl  = "control"  // control → worker: role change, block, removal of a session; Data is a signaling.Control
	OpState    = "state"    // worker → control: the session's participant id and tracks; Data is a signaling.State
	OpClosed   = "closed"   // worker → control: the worker ended the session; Data is a signaling.Closed
	OpShutdown = "shutdown" // control → worker: tell everyone and exit
	OpStats    = "stats"    // control → worker: how are you? worker → control: a signaling.Stats
	OpCert     = "cert"     // control → worker: a renewed certificate for the TURN relay's TLS listener; Data is a signaling.Certificate
)

// Frame is one message on the socketpair.
type Frame struct {
	Op      string          `json:"op"`
	Session uint64          `json:"sid,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Conn reads and writes frames. Send is safe for concurrent use; Recv must
// be called from one goroutine.
type Conn struct {
	rw  io.ReadWriteCloser
	r   *bufio.Reader
	wmu sync.Mutex
	buf []byte
}

// NewConn wraps one end of the socketpair.
func NewConn(rw io.ReadWriteCloser) *Conn {
	return &Conn{rw: rw, r: bufio.NewReaderSize(rw, 64<<10)}
}

// Send writes one frame. data is marshalled to JSON unless it is already a
// json.RawMessage or nil. Nothing is HTML-escaped, so a relayed message
// arrives with the size it had.
func (c *Conn) Send(op string, session uint64, data any) error {
	f := Frame{Op: op, Session: session}
	switch d := data.(type) {
	case nil:
	case json.RawMessage:
		f.Data = d
	default:
		raw, err := marshal(d)
		if err != nil {
			return fmt.Errorf("ipc: encode %s: %w", op, err)
		}
		f.Data = raw
	}
	body, err := marshal(f)
	if err != nil {
		return fmt.Errorf("ipc: encode %s: %w", op, err)
	}
	if len(body) > MaxFrame {
		return ErrFrameTooLarge
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.buf = binary.BigEndian.AppendUint32(c.buf[:0], uint32(len(body)))
	c.buf = append(c.buf, body...)
	if _, err := c.rw.Write(c.buf); err != nil {
		return fmt.Errorf("ipc: write: %w", err)
	}
	return nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Recv reads the next frame.
func (c *Conn) Recv() (Frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return Frame{}, ErrFrameTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return Frame{}, fmt.Errorf("ipc: read: %w", err)
	}
	var f Frame
	if err := json.Unmarshal(body, &f); err != nil {
		return Frame{}, fmt.Errorf("ipc: decode: %w", err)
	}
	return f, nil
}

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.rw.Close() }
