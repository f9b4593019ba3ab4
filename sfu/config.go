package sfu

import (
	"errors"
	"log/slog"
	"net"
	"runtime"
	"time"
)

// Config configures an SFU. Zero values take the defaults below.
type Config struct {
	// UDPConn is the single media socket, shared by all PeerConnections
	// through an ICE UDP mux. Required.
	UDPConn net.PacketConn
	Logger  *slog.Logger
	Now     func() time.Time

	// ICE liveness: a PeerConnection that hears nothing for
	// ICEFailedTimeout is failed and its participant removed.
	ICEDisconnectedTimeout time.Duration // default 3s
	ICEFailedTimeout       time.Duration // default 10s
	ICEKeepalive           time.Duration // default 1s

	SubscriberQueue int           // packets queued per subscriber; default 256
	Senders         int           // goroutines writing every subscriber's queue; default GOMAXPROCS
	VideoCache      int           // packets kept per video track for NACK; default 1024
	AudioCache      int           // packets kept per audio track for NACK; default 128
	PLIInterval     time.Duration // least time between keyframe requests to one publisher; default 500ms
	MaxTracks       int           // tracks one participant may publish; default 8

	// DTLSTimeout bounds the time from a PeerConnection's ICE connecting
	// to its DTLS handshake completing; a participant whose handshake
	// takes longer is removed (ErrDTLSTimeout). Default 10s.
	DTLSTimeout time.Duration
	// AfterFunc runs f once d has passed, unless the returned stop is
	// called first (it reports whether it stopped f). Default
	// time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ICEDisconnectedTimeout, 3*time.Second)
	def(&c.ICEFailedTimeout, 10*time.Second)
	def(&c.ICEKeepalive, time.Second)
	def(&c.PLIInterval, 500*time.Millisecond)
	def(&c.DTLSTimeout, 10*time.Second)
	if c.AfterFunc == nil {
		c.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	defInt(&c.SubscriberQueue, 256)
	defInt(&c.Senders, runtime.GOMAXPROCS(0))
	defInt(&c.VideoCache, 1024)
	defInt(&c.AudioCache, 128)
	defInt(&c.MaxTracks, 8)
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.UDPConn == nil {
		return errors.New("sfu: config: UDPConn is required")
	}
	if c.ICEFailedTimeout < c.ICEDisconnectedTimeout {
		return errors.New("sfu: config: ICEFailedTimeout shorter than ICEDisconnectedTimeout")
	}
	return nil
}
