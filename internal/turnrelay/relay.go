package turnrelay

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Defaults of Config.
const (
	DefaultMaxAllocations = 4
	DefaultMaxBitrate     = 50_000_000 // bit/s per allocation, both ways together
	DefaultCredentialTTL  = 12 * time.Hour
	DefaultRealm          = "lethe"
	DefaultMaxConns       = 1024 // TURN-over-TCP connections at once, per listener
	DefaultIdleTimeout    = time.Minute
)

// Alias maps an address Lethe advertises (a public IP in front of a 1:1
// NAT) to the local address its media socket has. The relay sends a
// datagram for Public to Local, as the NAT would but without leaving the
// host, and a datagram from Local seems to come from Public, so that the
// permissions a client made for the advertised address hold.
type Alias struct {
	Public, Local netip.Addr
}

// Config configures a Relay. Secret, one listener and Peers are required.
type Config struct {
	Secret []byte           // of the control process; the relay keeps a copy
	UDP    []net.PacketConn // TURN over UDP
	TCP    []net.Listener   // TURN over TCP
	TLS    []net.Listener   // TURN over TLS: plain TCP listeners the relay wraps
	// Certificate gives the TLS listeners' certificate (it may change
	// from one handshake to the next: a renewal). Required with TLS.
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)

	// RelayBind is the IP the relay sockets bind: the worker's media IP
	// (it may be unspecified). RelayIP is the relayed address given to
	// clients: the public IP when there is one, else the media IP.
	RelayBind netip.Addr
	RelayIP   netip.Addr

	// Peers are the worker's own media addresses, as advertised: the only
	// addresses a client may relay to.
	Peers   []netip.AddrPort
	Aliases []Alias

	MaxAllocations int           // per session; default DefaultMaxAllocations
	MaxBitrate     int           // bit/s relayed per allocation; default DefaultMaxBitrate; <0: no cap
	CredentialTTL  time.Duration // a credential's expiry after Open; default DefaultCredentialTTL
	Realm          string        // default DefaultRealm
	MaxConns       int           // TCP connections at once per listener; default DefaultMaxConns
	IdleTimeout    time.Duration // a TCP connection silent this long is closed; default DefaultIdleTimeout

	Now       func() time.Time                                   // default time.Now
	AfterFunc func(d time.Duration, f func()) (stop func() bool) // default time.AfterFunc
}

func (c *Config) setDefaults() {
	if c.MaxAllocations <= 0 {
		c.MaxAllocations = DefaultMaxAllocations
	}
	if c.MaxBitrate == 0 {
		c.MaxBitrate = DefaultMaxBitrate
	}
	if c.CredentialTTL <= 0 {
		c.CredentialTTL = DefaultCredentialTTL
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AfterFunc == nil {
		c.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if !c.RelayIP.IsValid() {
		c.RelayIP = c.RelayBind
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case len(c.Secret) < 16:
		return fmt.Errorf("%w: a secret of at least 16 bytes is required", ErrConfig)
	case len(c.UDP) == 0 && len(c.TCP) == 0 && len(c.TLS) == 0:
		return fmt.Errorf("%w: no listener", ErrConfig)
	case len(c.TLS) > 0 && c.Certificate == nil:
		return fmt.Errorf("%w: TLS listeners without a certificate", ErrConfig)
	case len(c.Peers) == 0:
		return fmt.Errorf("%w: no peer address to relay to", ErrConfig)
	case !c.RelayBind.IsValid():
		return fmt.Errorf("%w: no relay address to bind", ErrConfig)
	}
	return nil
}

// Relay is a running TURN server.
type Relay struct {
	cfg    Config
	turn   *turn.Server
	peers  map[netip.AddrPort]bool
	peerIP map[netip.Addr]bool
	toLoc  map[netip.Addr]netip.Addr
	toPub  map[netip.Addr]netip.Addr
	// listeners wrap cfg.TCP: bounded, idle connections closed
	listeners []*limitListener

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool

	stats counters
}

type session struct {
	expiry time.Time
	conns  map[*relayConn]struct{}
}

type counters struct {
	allocations, refusedPeer, droppedPeer, droppedRate, relayedBytes, refusedConns atomic.Uint64
}

// Stats are a relay's counts since it started.
type Stats struct {
	Allocations  uint64 // made
	Live         int    // open now
	RefusedPeer  uint64 // permissions and channel binds refused: not a media address of ours
	DroppedPeer  uint64 // datagrams dropped: to or from an address that is not ours
	DroppedRate  uint64 // datagrams dropped: over the allocation's bitrate
	RelayedBytes uint64
	TCPConns     int    // TURN-over-TCP connections open now
	RefusedConns uint64 // TCP connections closed at once: MaxConns were open
}

// New starts a TURN server on cfg's listeners. Close stops it and closes
// them.
func New(cfg Config) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	r := &Relay{
		cfg: cfg, peers: map[netip.AddrPort]bool{}, peerIP: map[netip.Addr]bool{},
		toLoc: map[netip.Addr]netip.Addr{}, toPub: map[netip.Addr]netip.Addr{},
		sessions: map[string]*session{},
	}
	for _, p := range cfg.Peers {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		r.peers[p], r.peerIP[p.Addr()] = true, true
	}
	for _, a := range cfg.Aliases {
		pub, loc := a.Public.Unmap(), a.Local.Unmap()
		r.toLoc[pub] = loc
		if _, ok := r.toPub[loc]; !ok {
			r.toPub[loc] = pub
		}
	}
	gen := &generator{r: r}
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   r.auth,
		QuotaHandler:  r.quota,
		LoggerFactory: &logging.DefaultLoggerFactory{Writer: discard{}, DefaultLogLevel: logging.LogLevelDisabled},
	}
	for _, c := range cfg.UDP {
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{
			PacketConn: c, RelayAddressGenerator: gen, PermissionHandler: r.permit})
	}
	for _, l := range cfg.TCP {
		ll := newLimitListener(l, cfg.MaxConns, cfg.IdleTimeout, r)
		r.listeners = append(r.listeners, ll)
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
			Listener: ll, RelayAddressGenerator: gen, PermissionHandler: r.permit})
	}
	for _, l := range cfg.TLS {
		ll := newLimitListener(l, cfg.MaxConns, cfg.IdleTimeout, r)
		r.listeners = append(r.listeners, ll)
		tl := tls.NewListener(ll, &tls.Config{GetCertificate: cfg.Certificate, MinVersion: tls.VersionTLS12})
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
			Listener: tl, RelayAddressGenerator: gen, PermissionHandler: r.permit})
	}
	s, err := turn.NewServer(sc)
	if err != nil {
		return nil, fmt.Errorf("turnrelay: %w", err)
	}
	r.turn = s
	return r, nil
}

// Credentials are what a client needs to use the relay for a session.
type Credentials struct {
	Username, Credential string
	Expiry               time.Time
}

// Open makes session's credentials, good until End(session) or their
// expiry, whichever comes first. Opening a live session again gives new
// credentials and keeps its allocations.
func (r *Relay) Open(id string) (Credentials, error) {
	if id == "" || len(id) > maxSession {
		return Credentials{}, ErrBadUsername
	}
	expiry := r.cfg.Now().Add(r.cfg.CredentialTTL).Truncate(time.Second)
	u := Username(expiry, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Credentials{}, ErrClosed
	}
	if s := r.sessions[id]; s != nil {
		s.expiry = expiry
	} else {
		r.sessions[id] = &session{expiry: expiry, conns: map[*relayConn]struct{}{}}
	}
	return Credentials{Username: u, Credential: Credential(r.cfg.Secret, u), Expiry: expiry}, nil
}

// End refuses session's credentials from now on and closes its
// allocations.
func (r *Relay) End(id string) {
	r.mu.Lock()
	s := r.sessions[id]
	delete(r.sessions, id)
	r.mu.Unlock()
	if s != nil {
		for c := range s.conns {
			_ = c.Close()
		}
	}
}

// Close stops the server, its listeners and every allocation.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	all := r.sessions
	r.sessions = map[string]*session{}
	r.mu.Unlock()
	for _, s := range all {
		for c := range s.conns {
			_ = c.Close()
		}
	}
	return r.turn.Close()
}

// Stats returns the relay's counts.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	live := 0
	for _, s := range r.sessions {
		live += len(s.conns)
	}
	r.mu.Unlock()
	conns := 0
	for _, l := range r.listeners {
		conns += l.open()
	}
	return Stats{
		TCPConns: conns, RefusedConns: r.stats.refusedConns.Load(),
		Allocations: r.stats.allocations.Load(), Live: live,
		RefusedPeer: r.stats.refusedPeer.Load(), DroppedPeer: r.stats.droppedPeer.Load(),
		DroppedRate: r.stats.droppedRate.Load(), RelayedBytes: r.stats.relayedBytes.Load(),
	}
}

// URLs are the ICE server URLs of the relay at host, for each transport
// it listens on ("turn:host:port?transport=udp", ...); a port of 0 is not
// listened on. The TLS URL ("turns:") names tlsName, the certificate's
// name, when there is one (a client checks the certificate against it).
func URLs(host netip.Addr, udpPort, tcpPort, tlsPort int, tlsName string) []string {
	var out []string
	h := host.Unmap().String()
	if host.Is6() && !host.Is4In6() {
		h = "[" + h + "]"
	}
	if udpPort > 0 {
		out = append(out, "turn:"+h+":"+strconv.Itoa(udpPort)+"?transport=udp")
	}
	if tcpPort > 0 {
		out = append(out, "turn:"+h+":"+strconv.Itoa(tcpPort)+"?transport=tcp")
	}
	if tlsPort > 0 {
		if tlsName != "" {
			h = tlsName
		}
		out = append(out, "turns:"+h+":"+strconv.Itoa(tlsPort)+"?transport=tcp")
	}
	return out
}

// auth is the server's AuthHandler: the username must be one of a live
// session's, unexpired; the key is made from our own credential for it,
// so a forged credential fails the message integrity check.
func (r *Relay) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	if ra.Realm != r.cfg.Realm {
		return "", nil, false
	}
	expiry, sess, err := ParseUsername(ra.Username)
	if err != nil || r.cfg.Now().After(expiry) {
		return "", nil, false
	}
	r.mu.Lock()
	s := r.sessions[sess]
	r.mu.Unlock()
	if s == nil {
		return "", nil, false
	}
	return sess, turn.GenerateAuthKey(ra.Username, ra.Realm, Credential(r.cfg.Secret, ra.Username)), true
}

// quota is the server's QuotaHandler: a session has at most
// MaxAllocations (answered 486 beyond).
func (r *Relay) quota(sess, _ string, _ net.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[sess]
	return s != nil && len(s.conns) < r.cfg.MaxAllocations
}

// permit is the server's PermissionHandler: only our own media IPs.
func (r *Relay) permit(_ net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if ok && r.peerIP[ip.Unmap()] {
		return true
	}
	r.stats.refusedPeer.Add(1)
	return false
}

// register adds c to its session, within the quota, and closes it when
// its credential expires: no allocation outlives its credential (nor its
// session: End).
func (r *Relay) register(sess string, c *relayConn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[sess]
	switch {
	case r.closed:
		return ErrClosed
	case s == nil:
		return ErrNoSession
	case len(s.conns) >= r.cfg.MaxAllocations:
		return ErrQuota
	}
	s.conns[c] = struct{}{}
	c.stopTimer = r.cfg.AfterFunc(s.expiry.Sub(r.cfg.Now()), func() { _ = c.Close() })
	return nil
}

// unregister takes c out of its session; it returns c's expiry timer's
// stop.
func (r *Relay) unregister(sess string, c *relayConn) (stop func() bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sessions[sess]; s != nil {
		delete(s.conns, c)
	}
	stop, c.stopTimer = c.stopTimer, nil
	return stop
}

// generator is the RelayAddressGenerator: UDP relays on RelayBind only.
type generator struct{ r *Relay }

var _ turn.RelayAddressGenerator = (*generator)(nil)

func (g *generator) Validate() error { return nil }

func (g *generator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	r := g.r
	bind := r.cfg.RelayBind
	network := "udp4"
	if bind.Is6() && !bind.Is4In6() {
		network = "udp6"
	}
	if conf.Network != network && !bind.IsUnspecified() {
		return nil, nil, fmt.Errorf("turnrelay: %s relay asked of a %s media address", conf.Network, network)
	}
	laddr := &net.UDPAddr{} // any address of the family asked for
	if !bind.IsUnspecified() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, 0))
	}
	pc, err := net.ListenUDP(conf.Network, laddr)
	if err != nil {
		return nil, nil, fmt.Errorf("turnrelay: relay socket: %w", err)
	}
	c := newRelayConn(r, conf.UserID, pc)
	if err := r.register(conf.UserID, c); err != nil {
		pc.Close()
		return nil, nil, err
	}
	r.stats.allocations.Add(1)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	return c, net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.cfg.RelayIP, uint16(port))), nil
}

func (g *generator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

func (g *generator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) { return nil, ErrTCPRelay }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
