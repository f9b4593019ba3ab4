package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/signaling"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/internal/tlscert"
)

// tlsFlags are serve's flags for HTTPS and WSS on the signaling listener.
type tlsFlags struct {
	certFile, keyFile string
	poll              time.Duration
	acmeDomains       string
	acmeDirectory     string
	acmeEmail         string
	acmeCAFile        string
	insecureHTTP      bool
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.certFile, "tls-cert", "", "PEM certificate (leaf first, then the chain) for HTTPS and WSS; with --tls-key. Reloaded on SIGHUP and when the files change")
	fs.StringVar(&f.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.DurationVar(&f.poll, "tls-poll", 10*time.Second, "how often --tls-cert and --tls-key are checked for a change (0: on SIGHUP only)")
	fs.StringVar(&f.acmeDomains, "acme-domain", "", "comma-separated domains to get certificates for from an ACME CA (tls-alpn-01: --listen must be reached on port 443); cached in <data-dir>/acme")
	fs.StringVar(&f.acmeDirectory, "acme-directory", tlscert.LetsEncrypt, "ACME directory URL of the CA")
	fs.StringVar(&f.acmeEmail, "acme-email", "", "contact address given to the ACME CA")
	fs.StringVar(&f.acmeCAFile, "acme-ca-file", "", "PEM roots to trust for the ACME directory's own HTTPS (a test CA); default the system's")
	fs.BoolVar(&f.insecureHTTP, "insecure-http", false,
		"serve plain HTTP on an address that is not loopback, for a TLS-terminating proxy in front (reported in the banner and the attestation)")
}

// files and acme say which certificate source is configured.
func (f *tlsFlags) files() bool { return f.certFile != "" || f.keyFile != "" }
func (f *tlsFlags) acme() bool  { return f.acmeDomains != "" }

// enabled reports whether the listener serves TLS.
func (f *tlsFlags) enabled() bool { return f.files() || f.acme() }

// validate checks the flags against the --listen host's kind.
func (f *tlsFlags) validate(loopback bool) error {
	switch {
	case f.files() && (f.certFile == "" || f.keyFile == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case f.files() && f.acme():
		return errors.New("--tls-cert/--tls-key and --acme-domain exclude each other")
	case f.insecureHTTP && f.enabled():
		return errors.New("--insecure-http is for plain HTTP; it cannot go with --tls-cert or --acme-domain")
	case f.poll < 0:
		return errors.New("--tls-poll must not be negative")
	case !loopback && !f.enabled() && !f.insecureHTTP:
		return errors.New("--listen: plain HTTP on an address that is not loopback would send tokens in clear: " +
			"give --tls-cert and --tls-key, or --acme-domain; or --insecure-http behind a TLS-terminating proxy")
	}
	return nil
}

// signalingTLS is the listener's TLS once opened: the certificate source
// and what to report.
type signalingTLS struct {
	flags  *tlsFlags
	files  *tlscert.Files // set with --tls-cert
	acme   *tlscert.ACME  // set with --acme-domain
	config *tls.Config    // nil: plain HTTP
}

// openTLS loads the certificate files, or prepares ACME, before anything
// else starts: a bad pair is an error at start.
//
// onLoad, if not nil, gets the files' bytes each time a certificate from
// --tls-cert enters service (turnCerts.load).
func (f *tlsFlags) open(dataDir string, log *slog.Logger, onLoad func(certPEM, keyPEM []byte)) (*signalingTLS, error) {
	s := &signalingTLS{flags: f}
	switch {
	case f.files():
		files, err := tlscert.LoadFiles(tlscert.FilesConfig{CertFile: f.certFile, KeyFile: f.keyFile, Logger: log, OnLoad: onLoad})
		if err != nil {
			return nil, fmt.Errorf("serve: --tls-cert/--tls-key: %w", err)
		}
		s.files, s.config = files, tlscert.ServerConfig(files)
	case f.acme():
		tc, err := caFileTLS(f.acmeCAFile)
		if err != nil {
			return nil, fmt.Errorf("serve: --acme-ca-file: %w", err)
		}
		cache := filepath.Join(dataDir, "acme")
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return nil, fmt.Errorf("serve: acme cache: %w", err)
		}
		a, err := tlscert.NewACME(tlscert.ACMEConfig{Domains: splitList(f.acmeDomains), Directory: f.acmeDirectory,
			Email: f.acmeEmail, CacheDir: cache, HTTPClient: httpClient(tc, time.Minute), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("serve: --acme-domain: %w", err)
		}
		s.acme, s.config = a, tlscert.ServerConfig(a, tlscert.ALPNProto)
	}
	return s, nil
}

// hostNames are the names the certificate is for, to be allowed in the
// Host header besides --allowed-hosts (wildcards left out).
func (s *signalingTLS) hostNames() []string {
	switch {
	case s.files != nil:
		leaf := s.files.Leaf()
		var out []string
		for _, n := range leaf.DNSNames {
			if !strings.HasPrefix(n, "*") {
				out = append(out, n)
			}
		}
		for _, ip := range leaf.IPAddresses {
			out = append(out, ip.String())
		}
		return out
	case s.acme != nil:
		return splitList(s.flags.acmeDomains)
	}
	return nil
}

// listener wraps ln in TLS when it is configured.
func (s *signalingTLS) listener(ln net.Listener) net.Listener {
	if s.config == nil {
		return ln
	}
	return tls.NewListener(ln, s.config)
}

// handler adds HSTS when serving TLS.
func (s *signalingTLS) handler(h http.Handler) http.Handler {
	if s.config == nil {
		return h
	}
	return tlscert.HSTS(h)
}

// Check says whether the certificate in service is valid at now; nil for
// plain HTTP. It is readiness's certificate check (/readyz).
func (s *signalingTLS) Check(now time.Time) error {
	switch {
	case s.files != nil:
		return s.files.Check(now)
	case s.acme != nil:
		return s.acme.Check(now)
	}
	return nil
}

// run keeps the certificate fresh until ctx ends: the files are polled
// every --tls-poll and reloaded on SIGHUP (hup); ACME certificates are
// obtained once the listener serves (autocert renews them by itself).
func (s *signalingTLS) run(ctx context.Context, hup <-chan os.Signal, log *slog.Logger) {
	var tick <-chan time.Time
	if s.files != nil && s.flags.poll > 0 {
		t := time.NewTicker(s.flags.poll)
		defer t.Stop()
		tick = t.C
	}
	if s.acme != nil {
		s.acme.Obtain(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if s.files == nil {
				log.Info("SIGHUP: no certificate files to reload")
				continue
			}
			log.Info("SIGHUP: reloading the TLS certificate")
			_ = s.files.Reload() // logged by Files
		case <-tick:
			s.files.Poll()
		}
	}
}

// scheme is the URL scheme of the signaling endpoint and of the page.
func (s *signalingTLS) scheme() (ws, page string) {
	if s.config == nil {
		return "ws", "http"
	}
	return "wss", "https"
}

// publicAddr is the address for the banner's URLs: the first ACME domain
// with the listener's port, or the listener's address.
func (s *signalingTLS) publicAddr(addr string) string {
	if s.acme != nil {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			return net.JoinHostPort(splitList(s.flags.acmeDomains)[0], port)
		}
	}
	return addr
}

// report is the attestation's account of the listener.
func (s *signalingTLS) report(loopback bool) compliance.Signaling {
	if s.config == nil {
		return compliance.Signaling{Scheme: "http", Loopback: loopback, InsecureHTTP: !loopback}
	}
	certs := "files"
	if s.acme != nil {
		certs = "acme"
	}
	return compliance.Signaling{Scheme: "https", Certificates: certs, MinTLSVersion: "1.2", HSTS: true, Loopback: loopback}
}

// printBanner adds the listener's TLS, or the lack of it, to the banner.
func (s *signalingTLS) printBanner(w io.Writer, addr string, loopback bool) {
	switch {
	case s.files != nil:
		leaf := s.files.Leaf()
		reload := "reloaded on SIGHUP"
		if s.flags.poll > 0 {
			reload += fmt.Sprintf(" and within %s of a change", s.flags.poll)
		}
		fmt.Fprintf(w, "  tls:        %s (serial %s, expires %s; %s), TLS 1.2+, HSTS\n",
			s.flags.certFile, leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339), reload)
	case s.acme != nil:
		fmt.Fprintf(w, "  tls:        ACME certificates for %s from %s (tls-alpn-01), TLS 1.2+, HSTS\n",
			strings.Join(splitList(s.flags.acmeDomains), ", "), s.flags.acmeDirectory)
	case !loopback:
		fmt.Fprintf(w, "  !!! WARNING: --insecure-http: signaling is plain HTTP on %s; tokens and SDP cross the network in clear unless a TLS-terminating proxy is in front. !!!\n", addr)
	}
}

// caFileTLS is a client tls.Config that trusts only the PEM roots in
// file (--ca-file); nil when file is empty: the system's roots.
func caFileTLS(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// httpClient is an http.Client with tc for https (nil: the defaults) and
// timeout (0: none).
func httpClient(tc *tls.Config, timeout time.Duration) *http.Client {
	if tc == nil {
		return &http.Client{Timeout: timeout}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	return &http.Client{Timeout: timeout, Transport: t}
}

// turnCerts passes the certificate of --tls-cert on to the media
// workers' TURN-over-TLS listeners ("turns:"), which cannot read files:
// the first one in the pool's start frames, each renewal as it loads.
type turnCerts struct {
	mu   sync.Mutex
	cur  *signaling.Certificate
	pool *control.Pool // nil until the workers run
}

// load is tlscert's OnLoad.
func (c *turnCerts) load(certPEM, keyPEM []byte) {
	cert := signaling.Certificate{CertPEM: bytes.Clone(certPEM), KeyPEM: bytes.Clone(keyPEM)}
	c.mu.Lock()
	c.cur = &cert
	pool := c.pool
	c.mu.Unlock()
	if pool != nil {
		pool.SetTURNCertificate(cert)
	}
}

// first is the certificate for the start frames; nil without --tls-cert.
func (c *turnCerts) first() *signaling.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// attach hands renewals to pool from now on, and at once the one loaded
// since started (the certificate its workers were started with) if any.
func (c *turnCerts) attach(pool *control.Pool, started *signaling.Certificate) {
	c.mu.Lock()
	c.pool = pool
	cur := c.cur
	c.mu.Unlock()
	if cur != nil && cur != started {
		pool.SetTURNCertificate(*cur)
	}
}
