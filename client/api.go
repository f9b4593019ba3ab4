package client

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Transport is what a client's ICE may use to reach the server.
type Transport string

// Transports. Others (a TURN relay) may come: code that takes a Transport
// from a user should pass it to ParseTransport.
const (
	TransportAny Transport = ""    // UDP and TCP, UDP preferred (ICE's own priorities)
	TransportUDP Transport = "udp" // UDP only
	TransportTCP Transport = "tcp" // ICE-TCP only: active TCP toward the server's passive candidates
)

// ParseTransport reads a Transport by name: "udp", "tcp" or "any" (or "").
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(s); t {
	case TransportUDP, TransportTCP:
		return t, nil
	case TransportAny, "any":
		return TransportAny, nil
	}
	return "", fmt.Errorf("client: transport %q: want udp, tcp or any", s)
}

// APIConfig says how NewAPI's PeerConnections reach the server.
type APIConfig struct {
	// Loopback gathers loopback host candidates only: a server on this
	// machine. Otherwise every address of the up, non-loopback
	// interfaces is gathered: a client on a real network.
	Loopback bool
	// Transport restricts ICE to UDP or TCP; TransportAny (the zero
	// value) allows both, over IPv4 and IPv6 (IPv4 only with Loopback).
	Transport Transport
	// Logger receives the warnings and errors of Pion's parts (ICE, DTLS,
	// the TURN client); default discards.
	Logger *slog.Logger
	// Downlink, when set, shapes what the API's PeerConnections receive
	// over UDP: a bottleneck of Downlink.Rate() bit/s with a bounded
	// FIFO, changeable at run time (see Downlink). Nil: unshaped.
	Downlink *Downlink
}

// hostAcceptanceWait is how long a client allowed both UDP and TCP waits
// for the pairs' checks before it nominates one.
const hostAcceptanceWait = 300 * time.Millisecond

// NewAPI returns a Pion API for a client: host candidates (no mDNS, no
// STUN), and relay candidates through the TURN relays joined hands out
// (Options.ForceRelay, Options.NoRelay), Pion's default codecs and default interceptors (NACK,
// RTCP reports, TWCC, stats), so the client retransmits, reports and
// answers PLI. Over TCP the client is active: it connects to the server's
// passive TCP candidates (ICE-TCP, RFC 6544). Its ICE turns disconnected
// after 3 s without a packet, checked every second, as the server's does
// (Pion's defaults: 5 s, every 2 s), so that the client's own ICE
// restarts come about as soon as the server's.
func NewAPI(cfg APIConfig) (*webrtc.API, error) {
	var udp, tcp []webrtc.NetworkType
	if cfg.Loopback {
		udp, tcp = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}, []webrtc.NetworkType{webrtc.NetworkTypeTCP4}
	} else {
		udp = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
		tcp = []webrtc.NetworkType{webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6}
	}
	var types []webrtc.NetworkType
	switch cfg.Transport {
	case TransportAny:
		types = append(udp, tcp...)
	case TransportUDP:
		types = udp
	case TransportTCP:
		types = tcp
	default:
		return nil, fmt.Errorf("client: api: transport %q: want udp, tcp or any", cfg.Transport)
	}

	var se webrtc.SettingEngine
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	se.LoggerFactory = pionLogs{log: log}
	se.SetICETimeouts(3*time.Second, 25*time.Second, time.Second)
	if cfg.Transport == TransportAny {
		// Nominate (as the offerer of the publisher PeerConnection, the
		// client does) the best pair that succeeded in this time, not the
		// first: an ICE-TCP pair can succeed before the UDP one, which
		// ranks above it.
		se.SetHostAcceptanceMinWait(hostAcceptanceWait)
	}
	if cfg.Downlink != nil {
		n, err := newShapedNet(cfg.Downlink)
		if err != nil {
			return nil, fmt.Errorf("client: api: downlink: %w", err)
		}
		se.SetNet(n)
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes(types)
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}

	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("client: api: codecs: %w", err)
	}
	// The audio level of every packet (RFC 6464): the server's active
	// speakers come from it (Source.SetAudioLevel).
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("client: api: audio level: %w", err)
	}
	ir := &interceptor.Registry{}
	ir.Add(repairedRIDFactory{}) // before the NACK responder: rtx.go
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("client: api: interceptors: %w", err)
	}
	return webrtc.NewAPI(
		webrtc.WithSettingEngine(se),
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(ir),
	), nil
}

// NewLoopbackAPI returns NewAPI's API for a server on the same machine
// over UDP: loopback UDP4 host candidates only.
func NewLoopbackAPI() (*webrtc.API, error) {
	return NewAPI(APIConfig{Loopback: true, Transport: TransportUDP})
}
