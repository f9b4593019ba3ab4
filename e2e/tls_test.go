package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/internal/testca"
	"github.com/pion/webrtc/v4"
)

// certFixture is a test CA and the certificate files serve reads.
type certFixture struct {
	ca                *testca.CA
	certFile, keyFile string
}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	ca, err := testca.New("lethe e2e test CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &certFixture{ca: ca, certFile: filepath.Join(dir, "fullchain.pem"), keyFile: filepath.Join(dir, "privkey.pem")}
}

// issue signs a certificate for the loopback server.
func (fx *certFixture) issue(t *testing.T) testca.Leaf {
	t.Helper()
	l, err := fx.ca.IssueNow("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// install writes l as the files serve reads: the leaf and the CA (a full
// chain, as renewal tools write it), and the key.
func (fx *certFixture) install(t *testing.T, l testca.Leaf) {
	t.Helper()
	l.CertPEM = append(l.CertPEM, fx.ca.CertPEM()...)
	if err := l.Write(fx.certFile, fx.keyFile); err != nil {
		t.Fatal(err)
	}
}

// keyLines are the base64 lines of a PEM key: the server must never print one.
func keyLines(l testca.Leaf) []string {
	var out []string
	for _, line := range strings.Split(string(l.KeyPEM), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

// startTLSServer installs a first certificate and runs serve with it.
func startTLSServer(t *testing.T, fx *certFixture, args ...string) (*server, testca.Leaf) {
	t.Helper()
	first := fx.issue(t)
	fx.install(t, first)
	s := startServer(t, append([]string{"--tls-cert", fx.certFile, "--tls-key", fx.keyFile}, args...)...)
	s.tls = &tls.Config{RootCAs: fx.ca.Pool(), MinVersion: tls.VersionTLS12}
	for _, line := range keyLines(first) {
		s.keepSecret(line)
	}
	return s, first
}

// hostPort is the listener's address, from the banner's URL.
func (s *server) hostPort(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// servedSerial is the serial of the certificate a new TLS connection gets,
// verified against the test CA.
func (s *server) servedSerial(t *testing.T) *big.Int {
	t.Helper()
	d := &tls.Dialer{Config: s.tls.Clone(), NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.DialContext(ctxT(t, 10*time.Second), "tcp", s.hostPort(t))
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber
}

// waitSerial waits until new connections get the certificate of serial.
func (s *server) waitSerial(t *testing.T, serial *big.Int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := s.servedSerial(t)
		if got.Cmp(serial) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get serial %s, want %s; server log:\n%s", got, serial, s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// receiveMarked waits until p receives n tracks and each carries at least
// 20 packets that pass the marker check, and no bad one.
func receiveMarked(t *testing.T, p *participant, n int) {
	t.Helper()
	var checkers []*client.Checker
	for len(checkers) < n {
		select {
		case tr := <-p.tracks:
			checkers = append(checkers, checkTrack(t, tr))
		case <-time.After(15 * time.Second):
			t.Fatalf("%s received %d of %d tracks", p.user, len(checkers), n)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, ch := range checkers {
		for ch.Stats().Packets < 20 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		st := ch.Stats()
		if st.Packets < 20 || st.BadMarkers != 0 {
			t.Fatalf("%s: a track got %d packets, %d failing the marker check", p.user, st.Packets, st.BadMarkers)
		}
	}
}

// Go clients join, publish and receive over WSS; answers carry HSTS; the
// listener speaks TLS only; a second connection (a rejoin) works too; the
// attestation says how signaling is served.
func TestTLSGoClientsMedia(t *testing.T) {
	leakCheck(t)
	fx := newCertFixture(t)
	s, _ := startTLSServer(t, fx)
	if !strings.HasPrefix(s.url, "wss://") || !strings.Contains(s.stdout.String(), "demo page:  https://") ||
		!strings.Contains(s.stdout.String(), "TLS 1.2+, HSTS") {
		t.Fatalf("banner does not announce TLS:\n%s", s.stdout.String())
	}

	res, err := s.httpClient().Get(s.httpBase() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET /healthz over TLS: %s, Strict-Transport-Security %q", res.Status, res.Header.Get("Strict-Transport-Security"))
	}
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v", res.TLS)
	}
	// Plain WebSocket to the TLS listener does not get through; nor a
	// client that does not trust the CA.
	if c, err := client.Dial(ctxT(t, 10*time.Second), strings.Replace(s.url, "wss://", "ws://", 1), client.Options{}); err == nil {
		_ = c.Close()
		t.Fatal("a ws:// connection to the TLS listener succeeded")
	}
	if c, err := client.Dial(ctxT(t, 10*time.Second), s.url, client.Options{TLSConfig: &tls.Config{}}); err == nil {
		_ = c.Close()
		t.Fatal("a client that does not trust the test CA connected")
	}

	alice := s.join(t, "alice", 0, "tls-room")
	alice.publishAV(t, false, client.SourceOptions{})
	bob := s.join(t, "bob", 0, "tls-room")
	receiveMarked(t, bob, 2)
	// Bob leaves and comes back on a new connection.
	_ = bob.Leave(ctxT(t, 5*time.Second))
	_ = bob.Close()
	bob2 := s.join(t, "bob", 0, "tls-room")
	receiveMarked(t, bob2, 2)

	a := s.attestation(t)
	want := compliance.Signaling{Scheme: "https", Certificates: "files", MinTLSVersion: "1.2", HSTS: true, Loopback: true}
	if a.Signaling == nil || *a.Signaling != want {
		t.Fatalf("attestation signaling %+v, want %+v", a.Signaling, want)
	}
}

// A renewed certificate on disk is served to the next connection without
// a restart: found by the poll, or on SIGHUP. A pair that does not match
// leaves the last good one in service, and the log says why without
// showing any key.
func TestTLSCertificateReload(t *testing.T) {
	leakCheck(t)
	t.Run("Poll", func(t *testing.T) {
		fx := newCertFixture(t)
		s, first := startTLSServer(t, fx, "--tls-poll", "200ms")
		if got := s.servedSerial(t); got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Fatalf("serving serial %s, want %s", got, first.Cert.SerialNumber)
		}
		p := s.join(t, "early", 0, "renewal")
		p.publishAV(t, false, client.SourceOptions{})

		second := fx.issue(t)
		for _, line := range keyLines(second) {
			s.keepSecret(line)
		}
		fx.install(t, second)
		s.waitSerial(t, second.Cert.SerialNumber, 20*time.Second)
		// A participant joining after the renewal gets the media of one who
		// joined before it: the connection made before goes on.
		late := s.join(t, "late", 0, "renewal")
		receiveMarked(t, late, 2)

		// A renewal tool's half-written pair (a new certificate, the old
		// key): refused, the second stays.
		third := fx.issue(t)
		if err := os.WriteFile(fx.certFile, third.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		s.waitLog(t, "TLS certificate not replaced")
		s.waitLog(t, "private key does not match public key")
		if got := s.servedSerial(t); got.Cmp(second.Cert.SerialNumber) != 0 {
			t.Fatalf("after a mismatched pair: serving %s, want %s", got, second.Cert.SerialNumber)
		}
		if strings.Contains(s.stderr.String(), "PRIVATE KEY") {
			t.Fatal("the server log shows a PEM key block")
		}
	})
	t.Run("SIGHUP", func(t *testing.T) {
		fx := newCertFixture(t)
		s, first := startTLSServer(t, fx, "--tls-poll", "0")
		second := fx.issue(t)
		for _, line := range keyLines(second) {
			s.keepSecret(line)
		}
		fx.install(t, second)
		// No poll: the files change, the certificate in service does not.
		if got := s.servedSerial(t); got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Fatalf("serving %s before SIGHUP, want %s", got, first.Cert.SerialNumber)
		}
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitSerial(t, second.Cert.SerialNumber, 20*time.Second)
		p := s.join(t, "after-hup", 0, "hup")
		_ = p.Close()
		// A mismatched pair on SIGHUP: refused, the second stays.
		if err := os.WriteFile(fx.keyFile, fx.issue(t).KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog(t, "TLS certificate not replaced")
		if got := s.servedSerial(t); got.Cmp(second.Cert.SerialNumber) != 0 {
			t.Fatalf("after a mismatched pair: serving %s, want %s", got, second.Cert.SerialNumber)
		}
	})
}

// Mistakes in what serve is given stop it at start with a clear message,
// before any media worker exists.
func TestTLSBadStart(t *testing.T) {
	fx := newCertFixture(t)
	good := fx.issue(t)
	fx.install(t, good)
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, fx.issue(t).KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"key of another certificate", []string{"--tls-cert", fx.certFile, "--tls-key", other}, "private key does not match public key"},
		{"missing certificate", []string{"--tls-cert", fx.certFile + ".gone", "--tls-key", fx.keyFile}, "no such file"},
		{"unreadable key", []string{"--tls-cert", fx.certFile, "--tls-key", t.TempDir()}, "is a directory"},
		{"port in use", []string{"--listen", busy.Addr().String()}, "address already in use"},
		{"TLS port in use", []string{"--listen", busy.Addr().String(), "--tls-cert", fx.certFile, "--tls-key", fx.keyFile}, "address already in use"},
		{"plain HTTP on all addresses", []string{"--listen", "0.0.0.0:0"}, "--insecure-http"},
		{"cert without key", []string{"--tls-cert", fx.certFile}, "go together"},
		{"unreadable ACME CA", []string{"--acme-domain", "lethe.test", "--acme-ca-file", fx.certFile + ".gone"}, "--acme-ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--udp-port", "0"}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, lethePath, args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() <= 0 {
				t.Fatalf("serve %v: %v, want a non-zero exit\n%s", tc.args, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "media worker ready") || strings.Contains(stdout.String(), "worker 0:") {
				t.Fatalf("a worker was started:\n%s\n%s", stdout.String(), stderr.String())
			}
		})
	}
}

// Plain HTTP on all addresses needs --insecure-http; with it, the banner
// and the attestation (full and public) say so. It binds 0.0.0.0, so as
// root it runs in a network namespace of its own; otherwise it skips.
func TestInsecureHTTPBeyondLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binds 0.0.0.0: runs as root only, in a network namespace of its own")
	}
	if os.Getenv(browserNetnsEnv) == "" {
		runInNetns(t)
		return
	}
	leakCheck(t)
	s := startServer(t, "--listen", "0.0.0.0:0", "--insecure-http")
	out := s.stdout.String()
	if !strings.Contains(out, "signaling:  ws://0.0.0.0:") || !strings.Contains(out, "WARNING: --insecure-http") {
		t.Fatalf("banner:\n%s", out)
	}
	s.url = strings.Replace(s.url, "0.0.0.0", "127.0.0.1", 1)
	p := s.join(t, "plain", 0, "plain")
	_ = p.Close()
	a := s.attestation(t)
	if a.Signaling == nil || !a.Signaling.InsecureHTTP || a.Signaling.Scheme != "http" || a.Signaling.Loopback {
		t.Fatalf("attestation signaling %+v", a.Signaling)
	}
	noted := false
	for _, n := range a.Notes {
		noted = noted || strings.Contains(n, "--insecure-http")
	}
	if !noted {
		t.Fatalf("attestation notes %q lack --insecure-http", a.Notes)
	}
	if !a.Enforced {
		t.Fatalf("plain HTTP behind a proxy is not a storage problem, yet: %q", a.Problems)
	}
}

// Headless Chromium, trusting the test CA by its key, loads the demo page
// over HTTPS, joins over WSS, publishes to a Go client and receives a Go
// client's media.
func TestTLSBrowser(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	fx := newCertFixture(t)
	s, first := startTLSServer(t, fx)
	caCert := fx.ca.Certificate()
	b := newBrowser(t, chromedp.Flag("ignore-certificate-errors-spki-list",
		testca.SPKIHash(caCert)+","+testca.SPKIHash(first.Cert)))
	room := newRoomName()
	pg, pageID := s.joinPage(t, b, "tlspage", room, true)
	var proto string
	pg.mustEval(`location.protocol`, &proto)
	if proto != "https:" {
		t.Fatalf("page loaded over %s", proto)
	}

	gc := s.join(t, "gotls", 0, room)
	got := map[string]*webrtc.TrackRemote{}
	for len(got) < 2 {
		select {
		case tr := <-gc.tracks:
			if tr.StreamID() == pageID {
				got[tr.Kind().String()] = tr
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("Go client received %d of the page's 2 tracks", len(got))
		}
	}
	for kind, tr := range got {
		readPackets(t, tr, kind, 20)
	}
	gp := s.join(t, "gopub", 0, room)
	gp.publishAV(t, false, client.SourceOptions{KeyframeInterval: time.Second})
	pg.waitReceiving(gp.ParticipantID(), 10, true, 30*time.Second)
}
