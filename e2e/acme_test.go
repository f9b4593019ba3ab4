package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/syncbuf"
)

// pebbleModule is the ACME test CA, built from the Go module proxy.
const pebbleModule = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3"

// startPebble builds and runs pebble on loopback with a certificate of
// the test CA fx, and returns its directory URL and management address.
// PEBBLE_VA_ALWAYS_VALID: pebble issues without reaching the domain (no
// DNS here), so what is tested is Lethe's side of ACME: account, order,
// certificate, cache, serving it.
func startPebble(t *testing.T, fx *certFixture) (directory, mgmt string) {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "install", pebbleModule)
	build.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := build.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go install %s: %v\n%s", pebbleModule, err, out)
		}
		t.Skipf("pebble (the ACME test CA) cannot be built here: %v\n%s", err, out)
	}
	leaf := fx.issue(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := leaf.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	listen, mgmt := loopbackTCP(t), loopbackTCP(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"keyAlgorithm": "ecdsa",
		"profiles":     map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "pebble"), "-config", cfgFile)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: fx.ca.Pool()}, DisableKeepAlives: true}}
	directory = "https://" + listen + "/dir"
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := hc.Get(directory)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return directory, mgmt
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pebbleRoots fetches the root pebble issues under (made at its start).
func pebbleRoots(t *testing.T, fx *certFixture, mgmt string) *x509.CertPool {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: fx.ca.Pool()}, DisableKeepAlives: true}}
	res, err := hc.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	pem, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("pebble's root: no PEM: %s", pem)
	}
	return pool
}

// With --acme-domain, serve gets its certificate from an ACME CA
// (pebble), caches it in the data dir, and serves it with HSTS to clients
// that name the domain; the attestation says "acme".
func TestACMEWithPebble(t *testing.T) {
	fx := newCertFixture(t)
	directory, mgmt := startPebble(t, fx)
	caFile := filepath.Join(t.TempDir(), "pebble-listener-ca.pem")
	if err := os.WriteFile(caFile, fx.ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const domain = "lethe.test"
	s := startServer(t, "--acme-domain", domain, "--acme-directory", directory, "--acme-ca-file", caFile, "--acme-email", "ops@lethe.test")
	if !strings.HasPrefix(s.url, "wss://"+domain+":") || !strings.Contains(s.stdout.String(), "ACME certificates for "+domain) {
		t.Fatalf("banner:\n%s", s.stdout.String())
	}
	addr := strings.Replace(s.hostPort(t), domain, "127.0.0.1", 1)
	roots := pebbleRoots(t, fx, mgmt)
	// The client names the domain and dials loopback.
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: domain, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		DisableKeepAlives: true,
	}}
	res, err := hc.Get("https://" + domain + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz with the ACME certificate: %v\nserver log:\n%s", err, s.stderr.String())
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET /healthz: %s, HSTS %q", res.Status, res.Header.Get("Strict-Transport-Security"))
	}
	leaf := res.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != domain {
		t.Fatalf("served certificate for %v, want %s", leaf.DNSNames, domain)
	}
	// The account key and the certificate are cached inside the data dir
	// (the certificate may be written just after it is first served).
	var cached []string
	hasCert := false
	for deadline := time.Now().Add(10 * time.Second); !hasCert && time.Now().Before(deadline); {
		cached, _ = filepath.Glob(filepath.Join(s.dataDir, "acme", "*"))
		for _, c := range cached {
			hasCert = hasCert || filepath.Base(c) == domain
		}
		if !hasCert {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !hasCert {
		t.Fatalf("acme cache holds %v, want %s", cached, domain)
	}
	// A name the server does not hold a certificate for gets none.
	bad := &tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: "other.test"}}
	if c, err := bad.DialContext(ctxT(t, 30*time.Second), "tcp", addr); err == nil {
		c.Close()
		t.Fatal("a handshake for other.test succeeded")
	}
	s.url = strings.Replace(s.url, domain, "127.0.0.1", 1)
	s.tls = &tls.Config{RootCAs: roots, ServerName: domain}
	a := s.attestation(t)
	if a.Signaling == nil || a.Signaling.Certificates != "acme" || a.Signaling.Scheme != "https" {
		t.Fatalf("attestation signaling %+v", a.Signaling)
	}
}

// loopbackTCP is a loopback TCP address free a moment ago (pebble takes
// fixed addresses from its configuration).
func loopbackTCP(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "tcp")))
}
