package worker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/lethe-rtc/lethe/internal/turnrelay"
	"github.com/lethe-rtc/lethe/signaling"
)

// Relay gives a session its TURN credentials and takes them back when the
// session ends (closing its allocations).
type Relay interface {
	Open(session string) ([]signaling.ICEServer, error)
	End(session string)
}

// WithCertificates makes the host pass renewed TURN-over-TLS certificates
// (OpCert frames) to set.
func WithCertificates(set func(signaling.Certificate) error) HostOption {
	return func(h *Host) { h.setCert = set }
}

// WithRelay makes every joined carry the TURN servers r gives the session,
// and ends them with it.
func WithRelay(r Relay) HostOption { return func(h *Host) { h.relay = r } }

// relayListeners are the TURN relay's sockets, opened with the media
// socket.
type relayListeners struct {
	udp  *net.UDPConn
	tcp  *net.TCPListener
	tls  *net.TCPListener // nil: no TURN over TLS
	cert *certHolder      // the TLS listener's certificate
}

// listenRelay opens the relay's UDP and TCP listeners on ip:port (port 0:
// a free port each), and, with a certificate, its TLS listener on
// ip:tlsPort (negative: none).
func listenRelay(ip netip.Addr, port, tlsPort int, cert *signaling.Certificate) (*relayListeners, error) {
	l := &relayListeners{}
	ap := netip.AddrPortFrom(ip, uint16(port))
	var err error
	if l.udp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)); err != nil {
		return nil, fmt.Errorf("TURN socket: %w", err)
	}
	_ = l.udp.SetReadBuffer(4 << 20)
	_ = l.udp.SetWriteBuffer(4 << 20)
	if l.tcp, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap)); err != nil {
		l.close()
		return nil, fmt.Errorf("TURN socket: %w", err)
	}
	if tlsPort >= 0 && cert != nil {
		l.cert = &certHolder{}
		if err := l.cert.set(*cert); err != nil {
			l.close()
			return nil, fmt.Errorf("TURN over TLS: %w", err)
		}
		if l.tls, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(tlsPort)))); err != nil {
			l.close()
			return nil, fmt.Errorf("TURN over TLS socket: %w", err)
		}
	}
	return l, nil
}

func (l *relayListeners) close() {
	if l.udp != nil {
		l.udp.Close()
	}
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.tls != nil {
		l.tls.Close()
	}
}

// certHolder is the TLS listener's certificate, replaced whole when the
// control process sends a renewed one.
type certHolder struct {
	cur atomic.Pointer[tls.Certificate]
}

// set parses and installs pair; a bad one is refused and the last good
// one kept.
func (h *certHolder) set(pair signaling.Certificate) error {
	c, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		return errors.New("certificate and key do not make a pair")
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	h.cur.Store(&c)
	return nil
}

func (h *certHolder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cur.Load(), nil }

// name is the certificate's first DNS name, for the turns: URL.
func (h *certHolder) name() string {
	if c := h.cur.Load(); c != nil && c.Leaf != nil && len(c.Leaf.DNSNames) > 0 {
		return c.Leaf.DNSNames[0]
	}
	return ""
}

// relayPlan is where the relay relays to and what it tells clients.
type relayPlan struct {
	peers   []netip.AddrPort
	aliases []turnrelay.Alias
	bind    netip.Addr // relay sockets
	relayIP netip.Addr // relayed addresses given to clients
	hosts   []netip.Addr
}

// planRelay works out, for a media socket at media and the advertised
// public IPs, the only peers the relay may relay to (the media socket at
// every address it is advertised on), the aliases that take a public
// address back to a local one, and the hosts of the TURN URLs. locals
// lists the host's addresses, for a media socket on an unspecified IP.
func planRelay(media netip.AddrPort, public []netip.Addr, locals func() ([]netip.Addr, error)) (relayPlan, error) {
	ip := media.Addr().Unmap()
	p := relayPlan{bind: ip}
	pubs := make([]netip.Addr, 0, len(public))
	for _, a := range public {
		pubs = append(pubs, a.Unmap())
	}
	// The local addresses the media socket answers on.
	local := []netip.Addr{ip}
	if ip.IsUnspecified() {
		all, err := locals()
		if err != nil {
			return p, fmt.Errorf("local addresses: %w", err)
		}
		local = local[:0]
		for _, a := range all {
			if a = a.Unmap(); ip.Is6() || a.Is4() { // [::] takes IPv4 too
				local = append(local, a)
			}
		}
		if len(local) == 0 {
			return p, errors.New("no local address for the relay")
		}
	}
	for _, a := range local {
		p.peers = append(p.peers, netip.AddrPortFrom(a, media.Port()))
	}
	for _, a := range pubs {
		p.peers = append(p.peers, netip.AddrPortFrom(a, media.Port()))
		to := sameFamily(local, a)
		if to.IsValid() && to != a {
			p.aliases = append(p.aliases, turnrelay.Alias{Public: a, Local: to})
		}
	}
	// The relayed address: the public IP when there is one, else the media
	// IP (the only peer, the SFU, is on this host: any local one does).
	p.relayIP = sameFamily(pubs, local[0])
	if !p.relayIP.IsValid() {
		p.relayIP = local[0]
	}
	// Clients reach the relay where they reach the media: the public IPs,
	// else the media IP, else every local one but loopback (loopback only
	// if that is all).
	switch {
	case len(pubs) > 0:
		p.hosts = pubs
	case !ip.IsUnspecified():
		p.hosts = []netip.Addr{ip}
	default:
		for _, a := range local {
			if !a.IsLoopback() {
				p.hosts = append(p.hosts, a)
			}
		}
		if len(p.hosts) == 0 {
			p.hosts = local
		}
	}
	return p, nil
}

// sameFamily returns the first of addrs in a's family, or none.
func sameFamily(addrs []netip.Addr, a netip.Addr) netip.Addr {
	for _, b := range addrs {
		if b.Is4() == a.Is4() {
			return b
		}
	}
	return netip.Addr{}
}

func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.IsLinkLocalUnicast() {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

// start runs the relay on l, relaying to the media socket at media only.
// It owns l from then on: closing the relay closes them.
func (l *relayListeners) start(secret []byte, media netip.AddrPort, cfg Config) (*hostRelay, error) {
	if len(secret) == 0 {
		l.close()
		return nil, errors.New("TURN relay: the control process sent no secret")
	}
	plan, err := planRelay(media, cfg.PublicIPs, interfaceAddrs)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("TURN relay: %w", err)
	}
	rc := turnrelay.Config{
		Secret: secret, UDP: []net.PacketConn{l.udp}, TCP: []net.Listener{l.tcp},
		RelayBind: plan.bind, RelayIP: plan.relayIP, Peers: plan.peers, Aliases: plan.aliases,
		MaxAllocations: cfg.TURNAllocations, MaxBitrate: cfg.TURNMaxBitrate,
	}
	tlsPort, tlsName := 0, ""
	if l.tls != nil {
		rc.TLS, rc.Certificate = []net.Listener{l.tls}, l.cert.get
		tlsPort, tlsName = l.tls.Addr().(*net.TCPAddr).Port, l.cert.name()
	}
	r, err := turnrelay.New(rc)
	if err != nil {
		l.close()
		return nil, err
	}
	h := &hostRelay{Relay: r, cert: l.cert}
	udp, tcp := l.udp.LocalAddr().(*net.UDPAddr).Port, l.tcp.Addr().(*net.TCPAddr).Port
	for i, a := range plan.hosts {
		tp := tlsPort
		if tlsName != "" && i > 0 {
			tp = 0 // one turns: URL, by the certificate's name
		}
		h.urls = append(h.urls, turnrelay.URLs(a, udp, tcp, tp, tlsName)...)
	}
	return h, nil
}

// hostRelay is the Host's Relay: a turnrelay.Relay and its URLs.
type hostRelay struct {
	*turnrelay.Relay
	urls []string
	cert *certHolder // nil: no TLS listener
}

// SetCertificate installs a renewed certificate for the TLS listener.
func (h *hostRelay) SetCertificate(pair signaling.Certificate) error {
	if h.cert == nil {
		return errors.New("no TURN over TLS listener")
	}
	return h.cert.set(pair)
}

var _ Relay = (*hostRelay)(nil)

func (h *hostRelay) Open(session string) ([]signaling.ICEServer, error) {
	c, err := h.Relay.Open(session)
	if err != nil {
		return nil, err
	}
	return []signaling.ICEServer{{URLs: h.urls, Username: c.Username, Credential: c.Credential}}, nil
}

// sessionName is a session's name in TURN usernames.
func sessionName(sid uint64) string { return strconv.FormatUint(sid, 10) }
