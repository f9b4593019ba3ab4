package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/lethe-rtc/lethe/internal/iceaddr"
	"github.com/lethe-rtc/lethe/internal/speaker"
)

// Config configures an SFU. Zero values take the defaults below.
type Config struct {
	// UDPConn is the single media socket, shared by all PeerConnections
	// through an ICE UDP mux. Required.
	UDPConn net.PacketConn
	Logger  *slog.Logger
	Now     func() time.Time

	// TCPListener, if set, carries ICE-TCP: the SFU's passive TCP
	// candidates, for clients whose UDP is blocked, share it through an
	// ICE TCP mux. It should be bound to the same address as UDPConn. The
	// SFU closes it.
	TCPListener net.Listener
	// Where host candidates are gathered (see internal/iceaddr): on
	// UDPConn's address, or, when that is unspecified (0.0.0.0, [::]), on
	// the host's interface addresses, narrowed to Interfaces (names) and
	// Prefixes when set. Loopback candidates only when UDPConn is on a
	// loopback address. PublicIPs are advertised in place of the local
	// addresses of their family (NAT 1:1).
	Interfaces []string
	Prefixes   []netip.Prefix
	PublicIPs  []netip.Addr
	// HostInterfaces reads the host's interfaces, once, in New; default
	// iceaddr.Interfaces.
	HostInterfaces func() ([]iceaddr.Interface, error)

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

	// DTLSTimeout bounds the time from a PeerConnection's ICE connecting
	// to its DTLS handshake completing; a participant whose handshake
	// takes longer is removed (ErrDTLSTimeout). Default 10s.
	DTLSTimeout time.Duration
	// AfterFunc runs f once d has passed, unless the returned stop is
	// called first (it reports whether it stopped f). Default
	// time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)

	// The most a publisher may send, in bits per second of RTP, measured
	// over BitrateWindow: on each track (default 8 Mbit/s) and on all its
	// tracks together (default 20 Mbit/s). Packets beyond are dropped and
	// counted (Stats.DroppedBitrate), and the publisher is told with RTCP
	// REMB; its answer carries the track cap as b=AS and b=TIAS. A
	// negative value lifts the cap.
	MaxTrackBitrate       int
	MaxParticipantBitrate int

	// NoBandwidthEstimation turns off the per-subscriber downlink
	// estimate (TWCC feedback read by a send-side estimator, bwe.go):
	// every subscriber then gets the highest layer its settings allow,
	// whatever its link carries.
	NoBandwidthEstimation bool

	// Speakers tunes active speaker detection (speakers.go; zero values
	// take speaker.Config's defaults); NoSpeakers turns it off: no
	// speakers events, nothing read from the audio level extension.
	Speakers   speaker.Config
	NoSpeakers bool
	// Data limits data messages (data.go); zero values take its defaults.
	Data DataConfig
}

// BitrateWindow is the stretch over which bitrate caps are measured: a
// publisher may send a cap's worth of one window in a burst (a keyframe),
// no more on average.
const BitrateWindow = time.Second

// maxBitrate is the highest cap Validate takes.
const maxBitrate = 1_000_000_000

// trackLimit is the most one track may send, in bits per second; 0 for no
// limit.
func (c *Config) trackLimit() int {
	switch {
	case c.MaxTrackBitrate > 0 && c.MaxParticipantBitrate > 0:
		return min(c.MaxTrackBitrate, c.MaxParticipantBitrate)
	case c.MaxTrackBitrate > 0:
		return c.MaxTrackBitrate
	default:
		return max(c.MaxParticipantBitrate, 0)
	}
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HostInterfaces == nil {
		c.HostInterfaces = iceaddr.Interfaces
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
	def(&c.DTLSTimeout, 10*time.Second)
	if c.AfterFunc == nil {
		c.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if c.MaxTrackBitrate == 0 {
		c.MaxTrackBitrate = 8_000_000
	}
	if c.MaxParticipantBitrate == 0 {
		c.MaxParticipantBitrate = 20_000_000
	}
	defInt(&c.SubscriberQueue, 256)
	defInt(&c.Senders, runtime.GOMAXPROCS(0))
	defInt(&c.VideoCache, 1024)
	defInt(&c.AudioCache, 128)
	defInt(&c.MaxTracks, 8)
	c.Speakers.SetDefaults()
	c.Data.SetDefaults()
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
	if c.MaxTrackBitrate > maxBitrate || c.MaxParticipantBitrate > maxBitrate {
		return errors.New("sfu: config: a bitrate cap above 1 Gbit/s")
	}
	if err := c.Speakers.Validate(); err != nil {
		return fmt.Errorf("sfu: config: %w", err)
	}
	if err := c.Data.Validate(); err != nil {
		return err
	}
	for _, ip := range c.PublicIPs {
		if !ip.IsValid() || ip.IsUnspecified() {
			return errors.New("sfu: config: a public IP that is not an address")
		}
	}
	return nil
}
