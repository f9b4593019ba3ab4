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

	// ICE restarts (see icerestart.go): a PeerConnection still
	// disconnected ICERestartDelay after it went so is restarted, and
	// again every ICEDisconnectedTimeout until it connects; at most
	// ICERestarts per PeerConnection in any ICERestartWindow, however
	// they were started. A negative ICERestarts turns them off; the
	// participant is then removed as before, once ICE fails.
	ICERestartDelay  time.Duration // default 2s
	ICERestarts      int           // default 4
	ICERestartWindow time.Duration // default 1m

	SubscriberQueue int           // packets queued per subscriber; default 256
	Senders         int           // goroutines writing every subscriber's queue; default GOMAXPROCS
	VideoCache      int           // packets kept per video track for NACK; default 1024
	AudioCache      int           // packets kept per audio track for NACK; default 128
	PLIInterval     time.Duration // least time between keyframe requests to one publisher; default 500ms
	MaxTracks       int           // tracks one participant may publish; default 8
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
	def(&c.ICERestartDelay, 2*time.Second)
	def(&c.ICERestartWindow, time.Minute)
	def(&c.PLIInterval, 500*time.Millisecond)
	defInt(&c.SubscriberQueue, 256)
	defInt(&c.Senders, runtime.GOMAXPROCS(0))
	defInt(&c.VideoCache, 1024)
	defInt(&c.AudioCache, 128)
	defInt(&c.MaxTracks, 8)
	if c.ICERestarts == 0 {
		c.ICERestarts = 4 // with the other defaults: 3 restarts before ICEFailedTimeout, one to spare
	}
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
