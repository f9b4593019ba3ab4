package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/lethe-rtc/lethe/internal/iceaddr"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/netutil"
)

// ICE-TCP limits. A client sends its first STUN binding request as soon
// as its connection is up; one that does not within tcpFirstSTUN is
// dropped. At most tcpMaxConns connections are open at once (more wait in
// the kernel's backlog): each costs a goroutine and up to tcpWriteBuffer
// of queued media.
const (
	tcpFirstSTUN   = 5 * time.Second
	tcpMaxConns    = 4096
	tcpReadQueue   = 64      // packets read ahead per PeerConnection
	tcpWriteBuffer = 1 << 20 // bytes of media queued per connection, then dropped
)

// plan decides where the SFU gathers host candidates and what they
// advertise, from the media socket's address and cfg.
func plan(cfg *Config) (iceaddr.Addresses, error) {
	bound, err := netip.ParseAddrPort(cfg.UDPConn.LocalAddr().String())
	if err != nil {
		return iceaddr.Addresses{}, fmt.Errorf("sfu: media socket address: %w", err)
	}
	ifaces, err := cfg.HostInterfaces()
	if err != nil {
		return iceaddr.Addresses{}, fmt.Errorf("sfu: %w", err)
	}
	a, err := iceaddr.Plan(iceaddr.Config{Bound: bound.Addr(), Interfaces: cfg.Interfaces, Prefixes: cfg.Prefixes,
		Public: cfg.PublicIPs}, ifaces)
	if err != nil {
		return iceaddr.Addresses{}, fmt.Errorf("sfu: %w", err)
	}
	return a, nil
}

// gatherOn sets se up to gather host candidates on a's local addresses
// only, advertising a's public ones, over UDP and, with tcp, TCP (passive:
// the SFU never dials out to an address a client names). n is the host's
// interfaces, read once.
func gatherOn(se *webrtc.SettingEngine, a iceaddr.Addresses, public []netip.Addr, tcp bool, n *stdnet.Net) error {
	se.SetIncludeLoopbackCandidate(a.Loopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if tcp {
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(types)
	se.DisableActiveTCP(true)
	local := slices.Clone(a.Local)
	se.SetIPFilter(func(ip net.IP) bool {
		addr, ok := netip.AddrFromSlice(ip)
		return ok && slices.Contains(local, addr.Unmap())
	})
	if n != nil {
		se.SetNet(n)
	}
	if len(public) == 0 {
		return nil
	}
	ext := make([]string, len(public))
	for i, ip := range public {
		ext[i] = ip.String()
	}
	if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
		External: ext, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
	}); err != nil {
		return fmt.Errorf("sfu: public IPs: %w", err)
	}
	return nil
}

// listenMux is the SFU's UDP mux with the listen addresses plan chose: on
// an unspecified address, Pion's own mux would offer every interface's,
// loopback included, whatever the filters say.
type listenMux struct {
	ice.UDPMux
	addrs []net.Addr
}

func (m *listenMux) GetListenAddresses() []net.Addr { return m.addrs }

// newUDPMux makes the SFU's UDP mux on conn, listening on a's local
// addresses.
func newUDPMux(log logging.LeveledLogger, conn net.PacketConn, a iceaddr.Addresses) ice.UDPMux {
	mux := webrtc.NewICEUDPMux(log, conn)
	port := 0
	if ap, err := netip.ParseAddrPort(conn.LocalAddr().String()); err == nil {
		if !ap.Addr().IsUnspecified() {
			return mux
		}
		port = int(ap.Port())
	}
	addrs := make([]net.Addr, len(a.Local))
	for i, ip := range a.Local {
		addrs[i] = &net.UDPAddr{IP: ip.AsSlice(), Port: port, Zone: ip.Zone()}
	}
	return &listenMux{UDPMux: mux, addrs: addrs}
}

// newTCPMux makes the SFU's ICE-TCP mux on ln.
func newTCPMux(log logging.LeveledLogger, ln net.Listener) ice.TCPMux {
	return ice.NewTCPMuxDefault(ice.TCPMuxParams{
		Listener: netutil.LimitListener(ln, tcpMaxConns), Logger: log,
		ReadBufferSize: tcpReadQueue, WriteBufferSize: tcpWriteBuffer, FirstStunBindTimeout: tcpFirstSTUN,
	})
}

// Advertised returns the addresses the SFU's host candidates carry: UDP,
// and TCP when ICE-TCP is on.
func (s *SFU) Advertised() (udp, tcp []netip.AddrPort) {
	port := func(a net.Addr) uint16 {
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return 0
		}
		return ap.Port()
	}
	up := port(s.cfg.UDPConn.LocalAddr())
	for _, ip := range s.addrs.Advertised {
		udp = append(udp, netip.AddrPortFrom(ip, up))
	}
	if s.cfg.TCPListener != nil {
		tp := port(s.cfg.TCPListener.Addr())
		for _, ip := range s.addrs.Advertised {
			tcp = append(tcp, netip.AddrPortFrom(ip, tp))
		}
	}
	return udp, tcp
}
