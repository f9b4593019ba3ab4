package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/turnrelay"
	"github.com/lethe-rtc/lethe/signaling"
)

// turnTLSRE finds worker 0's TURN-over-TLS address in the banner.
var turnTLSRE = regexp.MustCompile(`worker 0:\s+TURN relay udp \S+, tcp \S+, tls (\S+) `)

// turnsName is the DNS name the TURN-over-TLS test's certificate is for
// (after a wildcard, as a CA that sorts its names writes them); it
// resolves nowhere, so the test dials the banner's address in its stead.
const turnsName = "lethe.test"

// TestTURNOverTLS: serve with --tls-cert runs worker 0's TURN relay over
// TLS too, and joined names it by a turns: URL, on the certificate's DNS
// name (not its wildcard: no client can connect to one) and the banner's
// port, with credentials. A client that trusts the
// test CA for that name allocates over it and is served the certificate
// on disk; a forged credential is refused. After the files are replaced
// and SIGHUP, a new connection is served the new certificate and a new
// join's credentials allocate; a Pion client that can reach the relay
// over turns: only, forced onto it, sends and receives media through it.
// A renewal under another name is named by the next joined.
func TestTURNOverTLS(t *testing.T) {
	leakCheck(t)
	fx := newCertFixture(t)
	fx.hosts = []string{"*." + turnsName, turnsName, "127.0.0.1"}
	s, first := startTLSServer(t, fx, "--tls-poll", "0")
	addr := s.turnTLSAddr(t)
	roots := fx.ca.Pool()

	p := s.join(t, "turns", 0, "turns-room")
	is, u := turnsServer(t, p.joined)
	s.keepSecret(is.Credential)
	if u.Hostname() != turnsName || u.Port() != portOf(t, addr) {
		t.Fatalf("joined's turns: URL is %s, want host %s and the banner's port of %s", u, turnsName, addr)
	}
	got, err := turnsAllocate(addr, u.Hostname(), roots, is.Username, is.Credential)
	if err != nil {
		t.Fatalf("TURN over TLS with joined's credentials: %v", err)
	}
	if got.SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("TURN over TLS served serial %s, want %s (the file's)", got.SerialNumber, first.Cert.SerialNumber)
	}
	// A credential that is not the server's: the TLS handshake succeeds,
	// the allocation does not.
	if _, err := turnsAllocate(addr, u.Hostname(), roots, is.Username, forge(is.Credential)); err == nil {
		t.Fatal("an allocation over TLS with a forged credential succeeded")
	}
	// Nor does a client that does not trust the CA get through.
	if _, err := turnsAllocate(addr, u.Hostname(), x509.NewCertPool(), is.Username, is.Credential); err == nil {
		t.Fatal("a client that does not trust the test CA allocated over TLS")
	}

	// Renewal: new files, under the same names. With no poll, the relay
	// keeps the first certificate until SIGHUP.
	second := fx.issue(t)
	for _, line := range keyLines(second) {
		s.keepSecret(line)
	}
	fx.install(t, second)
	if got, err := turnsAllocate(addr, u.Hostname(), roots, is.Username, is.Credential); err != nil ||
		got.SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("before SIGHUP: %v, %v; want serial %s", got, err, first.Cert.SerialNumber)
	}
	s.signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := turnsHandshake(addr, u.Hostname(), roots)
		if err == nil && got.SerialNumber.Cmp(second.Cert.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TURN over TLS after SIGHUP: %v, %v; want serial %s; server log:\n%s", got, err, second.Cert.SerialNumber, s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p2 := s.join(t, "turns-after", 0, "turns-room")
	is2, u2 := turnsServer(t, p2.joined)
	s.keepSecret(is2.Credential)
	if u2.String() != u.String() {
		t.Errorf("after the renewal joined's turns: URL is %s, was %s", u2, u)
	}
	got, err = turnsAllocate(addr, u2.Hostname(), roots, is2.Username, is2.Credential)
	if err != nil || got.SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("TURN over TLS after the renewal: %v, %v; want serial %s", got, err, second.Cert.SerialNumber)
	}
	if _, err := turnsAllocate(addr, u2.Hostname(), roots, is2.Username, forge(is2.Credential)); err == nil {
		t.Fatal("after the renewal, an allocation with a forged credential succeeded")
	}
	_ = p.Close()
	_ = p2.Close()

	// Media through the relay over TLS: the clients' only way to it.
	d := &turnsDialer{name: turnsName, addr: addr, roots: roots}
	relayCall(t, s, client.Options{API: turnsAPI(t, d), ForceRelay: true, RelayTCP: true}, webrtc.ICECandidateTypeRelay)
	if n, serial := d.served(); n == 0 || serial.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("the clients made %d TURN-over-TLS connections, served serial %v; want some, serial %s", n, serial, second.Cert.SerialNumber)
	}

	// A renewal under another name: the next joined's turns: URL names it.
	fx.hosts = []string{"relay." + turnsName, "127.0.0.1"}
	third := fx.issue(t)
	for _, line := range keyLines(third) {
		s.keepSecret(line)
	}
	fx.install(t, third)
	s.signal(syscall.SIGHUP)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		p3 := s.join(t, "turns-moved", 0, "turns-room")
		is3, u3 := turnsServer(t, p3.joined)
		s.keepSecret(is3.Credential)
		if u3.Hostname() == "relay."+turnsName {
			got, err := turnsAllocate(addr, u3.Hostname(), roots, is3.Username, is3.Credential)
			_ = p3.Close() // its session's credentials end with it
			if err != nil || got.SerialNumber.Cmp(third.Cert.SerialNumber) != 0 {
				t.Fatalf("TURN over TLS to %s: %v, %v; want serial %s", u3.Hostname(), got, err, third.Cert.SerialNumber)
			}
			break
		}
		_ = p3.Close()
		if time.Now().After(deadline) {
			t.Fatalf("after a renewal under another name, joined's turns: URL is still %s", u3)
		}
	}
}

// turnTLSAddr is worker 0's TURN-over-TLS address from the banner.
func (s *server) turnTLSAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := turnTLSRE.FindStringSubmatch(s.stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the banner names no TURN-over-TLS listener:\n%s", s.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// turnsServer is joined's iceServer with a turns: URL, and that URL.
func turnsServer(t *testing.T, j *signaling.Joined) (signaling.ICEServer, *url.URL) {
	t.Helper()
	for _, is := range j.IceServers {
		for _, raw := range is.URLs {
			if !strings.HasPrefix(raw, "turns:") {
				continue
			}
			if is.Username == "" || is.Credential == "" {
				t.Fatalf("the turns: server in joined has no credentials")
			}
			// turns:host:port?transport=tcp: opaque to url.Parse, so
			// parse it as a URL with an authority.
			u, err := url.Parse("turns://" + strings.TrimPrefix(raw, "turns:"))
			if err != nil {
				t.Fatalf("turns: URL %q: %v", raw, err)
			}
			if u.Query().Get("transport") != "tcp" {
				t.Fatalf("turns: URL %q is not over TCP", raw)
			}
			return is, u
		}
	}
	t.Fatalf("joined's iceServers have no turns: URL: %+v", urlsOf(j.IceServers))
	return signaling.ICEServer{}, nil
}

func urlsOf(servers []signaling.ICEServer) []string {
	var out []string
	for _, is := range servers {
		out = append(out, is.URLs...)
	}
	return out
}

// forge is a credential of the same form that the server did not make.
func forge(cred string) string {
	b := []byte(cred)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// turnsHandshake makes a TLS connection to addr trusting roots for name
// and returns the certificate served.
func turnsHandshake(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	c, err := dialTURNS(addr, name, roots)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func dialTURNS(addr, name string, roots *x509.CertPool) (*tls.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{ServerName: name, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// turnsAllocate connects to the TURN-over-TLS listener at addr, trusting
// roots for name, and allocates with the credentials; it returns the
// certificate served, or why there is no allocation.
func turnsAllocate(addr, name string, roots *x509.CertPool, user, cred string) (*x509.Certificate, error) {
	tc, err := dialTURNS(addr, name, roots)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	conn := turn.NewSTUNConn(tc)
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: cred, Realm: turnrelay.DefaultRealm,
		LoggerFactory: &logging.DefaultLoggerFactory{DefaultLogLevel: logging.LogLevelDisabled},
	})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		return nil, err
	}
	relayed, err := cl.Allocate()
	if err != nil {
		return nil, fmt.Errorf("allocate: %w", err)
	}
	_ = relayed.Close()
	return tc.ConnectionState().PeerCertificates[0], nil
}

// turnsDialer is the Pion clients' way to the TURN relay: TLS to the
// relay's TLS listener, where name resolves, trusting roots only. Pion's
// ICE agent verifies a turns: server against the system's roots only;
// with a proxy dialer it dials through it and speaks TURN over what it
// gets. Any other address (the relay's plain TCP) is refused.
type turnsDialer struct {
	name, addr string
	roots      *x509.CertPool

	mu     sync.Mutex
	n      int
	serial *big.Int
}

func (d *turnsDialer) Dial(network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if network != "tcp4" || host != d.name {
		return nil, errors.New("turns dialer: TURN over TLS to " + d.name + " only")
	}
	c, err := dialTURNS(d.addr, host, d.roots)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.n++
	d.serial = c.ConnectionState().PeerCertificates[0].SerialNumber
	d.mu.Unlock()
	return c, nil
}

// served is how many connections d made and the last one's serial.
func (d *turnsDialer) served() (int, *big.Int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n, d.serial
}

// turnsAPI is a Pion API over loopback UDP4 whose TURN connections go
// through d.
func turnsAPI(t *testing.T, d *turnsDialer) *webrtc.API {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICETimeouts(3*time.Second, 25*time.Second, time.Second)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEProxyDialer(d)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir))
}
