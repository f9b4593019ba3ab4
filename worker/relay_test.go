package worker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/internal/turnrelay"
	"github.com/lethe-rtc/lethe/signaling"
)

// A joined carries the relay of the worker with credentials for that
// session, which work until the session ends and not after.
func TestHostRelayCredentialsLiveWithSession(t *testing.T) {
	t.Parallel()
	media, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	l, err := listenRelay(netip.MustParseAddr("127.0.0.1"), 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := turnrelay.NewSecret()
	r, err := l.start(secret, media.LocalAddr().(*net.UDPAddr).AddrPort(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join, WithRelay(r))
	h.sendFrame(t, ipc.OpOpen, 7, testOpen(70, "alice"))
	env := h.expect(t, 7, signaling.TypeJoined, 70)
	<-calls
	var joined signaling.Joined
	if err := json.Unmarshal(env.Data, &joined); err != nil {
		t.Fatal(err)
	}
	if len(joined.IceServers) != 1 {
		t.Fatalf("iceServers %+v, want one", joined.IceServers)
	}
	is := joined.IceServers[0]
	wantURLs := []string{
		"turn:127.0.0.1:" + port(l.udp.LocalAddr()) + "?transport=udp",
		"turn:127.0.0.1:" + port(l.tcp.Addr()) + "?transport=tcp",
	}
	if !slices.Equal(is.URLs, wantURLs) {
		t.Errorf("urls %q, want %q", is.URLs, wantURLs)
	}
	if !strings.HasSuffix(is.Username, ":7") || is.Credential != turnrelay.Credential(secret, is.Username) {
		t.Errorf("username %q is not expiry:7, or its credential is not the secret's", is.Username)
	}

	allocate := func() error {
		tc, err := net.Dial("tcp4", l.tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn := turn.NewSTUNConn(tc)
		defer conn.Close()
		cl, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: l.tcp.Addr().String(), TURNServerAddr: l.tcp.Addr().String(), Conn: conn,
			Username: is.Username, Password: is.Credential, Realm: turnrelay.DefaultRealm,
			LoggerFactory: &logging.DefaultLoggerFactory{DefaultLogLevel: logging.LogLevelDisabled}, RTO: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Listen(); err != nil {
			t.Fatal(err)
		}
		relayed, err := cl.Allocate()
		if err != nil {
			return err
		}
		defer relayed.Close()
		return cl.CreatePermission(media.LocalAddr())
	}
	if err := allocate(); err != nil {
		t.Fatalf("the session's credentials: %v", err)
	}
	h.request(t, 7, msg(signaling.TypeLeave, 0, nil))
	h.expectEnd(t, 7, signaling.CodeOK)
	waitUntil(t, func() bool { return r.Stats().Live == 0 }, "the session's allocations closed")
	if err := allocate(); err == nil {
		t.Fatal("the credentials of an ended session still allocate")
	}
}

func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func waitUntil(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPlanRelay(t *testing.T) {
	t.Parallel()
	locals := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}, nil
	}
	ap := netip.MustParseAddrPort
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		media   string
		public  []netip.Addr
		peers   []netip.AddrPort
		aliases []turnrelay.Alias
		relayIP netip.Addr
		hosts   []netip.Addr
		err     string
	}{
		{name: "loopback", media: "127.0.0.1:7882",
			peers: []netip.AddrPort{ap("127.0.0.1:7882")}, relayIP: a("127.0.0.1"), hosts: []netip.Addr{a("127.0.0.1")}},
		{name: "one interface behind a 1:1 NAT", media: "10.0.0.5:7882", public: []netip.Addr{a("198.51.100.10")},
			peers:   []netip.AddrPort{ap("10.0.0.5:7882"), ap("198.51.100.10:7882")},
			aliases: []turnrelay.Alias{{Public: a("198.51.100.10"), Local: a("10.0.0.5")}},
			relayIP: a("198.51.100.10"), hosts: []netip.Addr{a("198.51.100.10")}},
		{name: "all IPv4 interfaces", media: "0.0.0.0:7882",
			peers:   []netip.AddrPort{ap("127.0.0.1:7882"), ap("10.0.0.5:7882")},
			relayIP: a("127.0.0.1"), hosts: []netip.Addr{a("10.0.0.5")}},
		{name: "every interface, and a public IPv6", media: "[::]:7882", public: []netip.Addr{a("2001:db8::1")},
			peers: []netip.AddrPort{ap("127.0.0.1:7882"), ap("10.0.0.5:7882"), ap("[fd00::5]:7882"), ap("[2001:db8::1]:7882")},
			// The IPv6 public address is the IPv6 local one's.
			aliases: []turnrelay.Alias{{Public: a("2001:db8::1"), Local: a("fd00::5")}},
			relayIP: a("127.0.0.1"), hosts: []netip.Addr{a("2001:db8::1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planRelay(ap(tc.media), tc.public, locals)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.peers, tc.peers) || !slices.Equal(p.aliases, tc.aliases) || p.relayIP != tc.relayIP || !slices.Equal(p.hosts, tc.hosts) {
				t.Errorf("plan %+v\nwant peers %v aliases %v relay %v hosts %v", p, tc.peers, tc.aliases, tc.relayIP, tc.hosts)
			}
		})
	}
}

// testCert makes a self-signed certificate for name (and 127.0.0.1).
func testCert(t *testing.T, name string, serial int64) (signaling.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return signaling.Certificate{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}, leaf
}

// TURN over TLS: the turns: URL names the certificate; a client that
// trusts it allocates; a renewed certificate is served to the next
// connection, and a bad pair is refused with the last good one kept.
func TestRelayOverTLS(t *testing.T) {
	t.Parallel()
	media, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	first, firstLeaf := testCert(t, "turn.lethe.test", 1)
	l, err := listenRelay(netip.MustParseAddr("127.0.0.1"), 0, 0, &first)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := turnrelay.NewSecret()
	r, err := l.start(secret, media.LocalAddr().(*net.UDPAddr).AddrPort(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tlsAddr := l.tls.Addr().String()
	servers, err := r.Open("3")
	if err != nil {
		t.Fatal(err)
	}
	want := "turns:turn.lethe.test:" + port(l.tls.Addr()) + "?transport=tcp"
	if !slices.Contains(servers[0].URLs, want) {
		t.Fatalf("urls %q lack %q", servers[0].URLs, want)
	}

	// connect makes a TLS connection trusting leaf and allocates over it.
	connect := func(leaf *x509.Certificate) (*x509.Certificate, error) {
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "turn.lethe.test", RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			return nil, err
		}
		conn := turn.NewSTUNConn(tc)
		defer conn.Close()
		cl, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: tlsAddr, TURNServerAddr: tlsAddr, Conn: conn,
			Username: servers[0].Username, Password: servers[0].Credential, Realm: turnrelay.DefaultRealm,
			LoggerFactory: &logging.DefaultLoggerFactory{DefaultLogLevel: logging.LogLevelDisabled}, RTO: 100 * time.Millisecond,
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
			return nil, err
		}
		relayed.Close()
		return tc.ConnectionState().PeerCertificates[0], nil
	}
	got, err := connect(firstLeaf)
	if err != nil {
		t.Fatalf("TURN over TLS: %v", err)
	}
	if got.SerialNumber.Int64() != 1 {
		t.Fatalf("served serial %v", got.SerialNumber)
	}
	renewed, renewedLeaf := testCert(t, "turn.lethe.test", 2)
	if err := r.SetCertificate(renewed); err != nil {
		t.Fatal(err)
	}
	if got, err := connect(renewedLeaf); err != nil || got.SerialNumber.Int64() != 2 {
		t.Fatalf("after the renewal: %v, %v", got, err)
	}
	other, _ := testCert(t, "turn.lethe.test", 3)
	if err := r.SetCertificate(signaling.Certificate{CertPEM: other.CertPEM, KeyPEM: first.KeyPEM}); err == nil {
		t.Fatal("a certificate with another's key was taken")
	}
	if got, err := connect(renewedLeaf); err != nil || got.SerialNumber.Int64() != 2 {
		t.Fatalf("after a bad pair: %v, %v (want the renewed one kept)", got, err)
	}
}

// The control process's renewed certificates reach the relay through the
// host (OpCert), in order; a frame that is not one is dropped.
func TestHostPassesCertificates(t *testing.T) {
	t.Parallel()
	got := make(chan signaling.Certificate, 4)
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join, WithCertificates(func(c signaling.Certificate) error {
		got <- c
		return nil
	}))
	h.sendFrame(t, ipc.OpCert, 0, json.RawMessage(`"not a certificate"`))
	h.sendFrame(t, ipc.OpCert, 0, signaling.Certificate{CertPEM: []byte("c1"), KeyPEM: []byte("k1")})
	h.joinHost(t, calls, 1) // the frames before it have been handled
	select {
	case c := <-got:
		if string(c.CertPEM) != "c1" || string(c.KeyPEM) != "k1" {
			t.Errorf("got %q/%q", c.CertPEM, c.KeyPEM)
		}
	default:
		t.Fatal("the certificate did not reach the relay")
	}
	if len(got) != 0 {
		t.Error("the bad frame reached the relay")
	}
}
