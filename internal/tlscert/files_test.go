package tlscert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/testca"
	"github.com/lethe-rtc/lethe/internal/testclock"
)

// lockedBuffer is a log sink for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fixture struct {
	ca          *testca.CA
	dir         string
	certF, keyF string
	log         *lockedBuffer
	clock       *testclock.Clock
	secrets     [][]byte // key PEMs that must never be logged
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca, err := testca.New("tlscert test CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &fixture{ca: ca, dir: dir, certF: filepath.Join(dir, "cert.pem"), keyF: filepath.Join(dir, "key.pem"),
		log: &lockedBuffer{}, clock: testclock.New(time.Now())}
}

func (fx *fixture) issue(t *testing.T) testca.Leaf {
	t.Helper()
	l, err := fx.ca.IssueNow("lethe.test")
	if err != nil {
		t.Fatal(err)
	}
	fx.secrets = append(fx.secrets, l.KeyPEM)
	return l
}

func (fx *fixture) write(t *testing.T, l testca.Leaf) {
	t.Helper()
	if err := l.Write(fx.certF, fx.keyF); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) load(t *testing.T) *Files {
	t.Helper()
	f, err := LoadFiles(FilesConfig{CertFile: fx.certF, KeyFile: fx.keyF, Now: fx.clock.Now,
		Logger: slog.New(slog.NewTextHandler(fx.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkLog fails if the log holds any key material.
func (fx *fixture) checkLog(t *testing.T) {
	t.Helper()
	out := fx.log.String()
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("log mentions a PEM private key block")
	}
	for _, k := range fx.secrets {
		body := strings.Split(string(k), "\n")[1] // first base64 line of the key
		if strings.Contains(out, body) {
			t.Error("log holds key material")
		}
	}
}

func serial(t *testing.T, f *Files) string {
	t.Helper()
	c, err := f.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

func TestLoadFilesRefusesBadPairs(t *testing.T) {
	fx := newFixture(t)
	good, other := fx.issue(t), fx.issue(t)
	expired, err := fx.ca.Issue([]string{"lethe.test"}, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(fx.dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodCert, goodKey := write("good.crt", good.CertPEM), write("good.key", good.KeyPEM)
	otherKey := write("other.key", other.KeyPEM)
	unreadable := write("unreadable.key", good.KeyPEM)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"key of another certificate", goodCert, otherKey, "private key does not match public key"},
		{"missing certificate", filepath.Join(fx.dir, "nope.crt"), goodKey, "no such file"},
		{"missing key", goodCert, filepath.Join(fx.dir, "nope.key"), "no such file"},
		{"not PEM", write("junk.crt", []byte("hello")), goodKey, "failed to find any PEM data"},
		{"key given as certificate", goodKey, goodKey, "PEM"},
		{"expired", write("expired.crt", expired.CertPEM), write("expired.key", expired.KeyPEM), "expired"},
		{"no key file named", goodCert, "", "both needed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFiles(FilesConfig{CertFile: tc.cert, KeyFile: tc.key})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), strings.Split(string(good.KeyPEM), "\n")[1]) {
				t.Fatal("the error holds key material")
			}
		})
	}
	if os.Geteuid() != 0 { // root reads a file whatever its mode
		if _, err := LoadFiles(FilesConfig{CertFile: goodCert, KeyFile: unreadable}); !errors.Is(err, os.ErrPermission) {
			t.Fatalf("unreadable key: err = %v, want permission denied", err)
		}
	}
}

func TestWatchServesReplacementAndKeepsLastGood(t *testing.T) {
	fx := newFixture(t)
	first := fx.issue(t)
	fx.write(t, first)
	f := fx.load(t)
	if got := serial(t, f); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serving serial %s, want %s", got, first.Cert.SerialNumber)
	}

	tick := make(chan time.Time)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(done); f.Watch(ctx, tick) }()
	defer func() { cancel(); <-done }()
	step := func() { tick <- time.Now(); tick <- time.Now() } // the second send waits for the first tick's work

	// A renewal tool writes the new certificate, then its key: in between,
	// the pair does not match and the old one stays.
	second := fx.issue(t)
	if err := os.WriteFile(fx.certF, second.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	step()
	if got := serial(t, f); got != first.Cert.SerialNumber.String() {
		t.Fatalf("half-written pair: serving %s, want the old %s", got, first.Cert.SerialNumber)
	}
	step()
	if n := strings.Count(fx.log.String(), "not replaced"); n != 1 {
		t.Fatalf("the same bad pair was reported %d times, want once:\n%s", n, fx.log)
	}
	if err := os.WriteFile(fx.keyF, second.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	step()
	if got := serial(t, f); got != second.Cert.SerialNumber.String() {
		t.Fatalf("after the key: serving %s, want %s", got, second.Cert.SerialNumber)
	}
	if !strings.Contains(fx.log.String(), "serial="+second.Cert.SerialNumber.String()) {
		t.Fatalf("the reload is not logged with its serial:\n%s", fx.log)
	}

	// Garbage in both files: the second stays.
	for _, p := range []string{fx.certF, fx.keyF} {
		if err := os.WriteFile(p, []byte("-----BEGIN"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if got := serial(t, f); got != second.Cert.SerialNumber.String() {
		t.Fatalf("garbage: serving %s, want %s", got, second.Cert.SerialNumber)
	}
	// Deleted files: the same.
	_ = os.Remove(fx.certF)
	step()
	if got := serial(t, f); got != second.Cert.SerialNumber.String() {
		t.Fatalf("deleted: serving %s, want %s", got, second.Cert.SerialNumber)
	}
	fx.checkLog(t)
}

func TestReloadOnRequest(t *testing.T) {
	fx := newFixture(t)
	fx.write(t, fx.issue(t))
	f := fx.load(t)
	next := fx.issue(t)
	fx.write(t, next)
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, f); got != next.Cert.SerialNumber.String() {
		t.Fatalf("serving %s, want %s", got, next.Cert.SerialNumber)
	}
	// A bad pair on request: an error, and the good one stays.
	if err := os.WriteFile(fx.keyF, fx.issue(t).KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched reload: err = %v", err)
	}
	if got := serial(t, f); got != next.Cert.SerialNumber.String() {
		t.Fatalf("serving %s after a bad reload, want %s", got, next.Cert.SerialNumber)
	}
	fx.checkLog(t)
}

func TestCheck(t *testing.T) {
	fx := newFixture(t)
	l := fx.issue(t)
	fx.write(t, l)
	f := fx.load(t)
	if err := f.Check(fx.clock.Now()); err != nil {
		t.Fatalf("fresh certificate: %v", err)
	}
	if err := f.Check(l.Cert.NotAfter.Add(time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after NotAfter: err = %v, want ErrExpired", err)
	}
	if err := f.Check(l.Cert.NotBefore.Add(-time.Second)); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("before NotBefore: err = %v, want ErrNotYetValid", err)
	}
	// A replacement that has expired by the time it is read stays out.
	fx.clock.Set(l.Cert.NotAfter.Add(time.Minute))
	fx.write(t, l)
	if err := f.Reload(); !errors.Is(err, ErrExpired) {
		t.Fatalf("reload of an expired pair: err = %v, want ErrExpired", err)
	}
}

func TestServerConfigAndHSTS(t *testing.T) {
	fx := newFixture(t)
	l := fx.issue(t)
	fx.write(t, l)
	f := fx.load(t)
	srv := httptest.NewUnstartedServer(HSTS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	srv.TLS = ServerConfig(f)
	srv.StartTLS()
	defer srv.Close()

	pool := fx.ca.Pool()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "lethe.test"}}}
	res, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Fatalf("Strict-Transport-Security = %q", got)
	}
	if res.TLS.PeerCertificates[0].SerialNumber.Cmp(l.Cert.SerialNumber) != 0 {
		t.Fatal("served another certificate")
	}
	if res.Proto != "HTTP/1.1" {
		t.Fatalf("proto %s, want HTTP/1.1 (WebSocket upgrades need it)", res.Proto)
	}
	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: pool, ServerName: "lethe.test", MaxVersion: tls.VersionTLS11}
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), old)
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}
