package tlscert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = acme.LetsEncryptURL

// ACMEConfig configures certificates from an ACME CA.
type ACMEConfig struct {
	// Domains are the names to obtain certificates for; the server answers
	// only these in the TLS handshake.
	Domains []string
	// Directory is the CA's directory URL; default LetsEncrypt.
	Directory string
	// Email is the contact address given to the CA; may be empty.
	Email string
	// CacheDir holds the account key and the certificates (inside the
	// data dir: the only place serve may write).
	CacheDir string
	// HTTPClient talks to the CA; default http.DefaultClient. Tests pass
	// one that trusts their CA's own certificate.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// ACME obtains and renews certificates through autocert, answering the
// CA's tls-alpn-01 challenges on the listener itself (so the listener
// must be the one the CA reaches for the domain, on port 443).
type ACME struct {
	m       *autocert.Manager
	domains []string
	log     *slog.Logger
	now     func() time.Time
}

// NewACME checks cfg and builds the manager; nothing is fetched yet.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("tlscert: acme: no domain")
	}
	for _, d := range cfg.Domains {
		if !strings.Contains(strings.Trim(d, "."), ".") || strings.ContainsAny(d, "/:* ") {
			return nil, fmt.Errorf("tlscert: acme: %q is not a domain name", d)
		}
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("tlscert: acme: no cache directory")
	}
	if cfg.Directory == "" {
		cfg.Directory = LetsEncrypt
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cfg.CacheDir),
		HostPolicy: autocert.HostWhitelist(cfg.Domains...),
		Email:      cfg.Email,
		Client:     &acme.Client{DirectoryURL: cfg.Directory, HTTPClient: cfg.HTTPClient},
	}
	return &ACME{m: m, domains: cfg.Domains, log: cfg.Logger, now: cfg.Now}, nil
}

// ALPNProto is the protocol ServerConfig must also offer for ACME.
const ALPNProto = acme.ALPNProto

// GetCertificate serves the domain's certificate, obtaining it first if
// need be, and answers tls-alpn-01 challenges (tls.Config hook).
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.m.GetCertificate(hello)
}

// Obtain gets (or loads from the cache) every domain's certificate, so
// that the first client does not wait for the CA; it logs failures, which
// the next handshake retries.
func (a *ACME) Obtain(ctx context.Context) {
	for _, d := range a.domains {
		if ctx.Err() != nil {
			return
		}
		c, err := a.GetCertificate(ecdsaHello(d))
		if err != nil {
			a.log.Warn("ACME certificate not obtained yet", "domain", d, logKeyErr, err.Error())
			continue
		}
		a.log.Info("ACME certificate ready", "domain", d, logKeyExpiry, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// ecdsaHello is a ClientHello that autocert answers with its ECDSA
// certificate, as it does every modern client.
func ecdsaHello(domain string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{ServerName: domain, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
}

// Check says whether every domain has a certificate in the cache that is
// valid at now. It reads the cache only; it never asks the CA.
func (a *ACME) Check(now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, d := range a.domains {
		data, err := a.m.Cache.Get(ctx, d)
		if errors.Is(err, autocert.ErrCacheMiss) {
			return fmt.Errorf("%w for %s", ErrNoCertificate, d)
		}
		if err != nil {
			return fmt.Errorf("tlscert: acme: %s: %w", d, err)
		}
		leaf, err := firstCertificate(data)
		clear(data) // it holds the private key too
		if err != nil {
			return fmt.Errorf("tlscert: acme: %s: %w", d, err)
		}
		if err := validAt(leaf, now); err != nil {
			return fmt.Errorf("tlscert: acme: %s: %w", d, err)
		}
	}
	return nil
}

// firstCertificate parses the first CERTIFICATE block of an autocert
// cache entry (a private key, then the chain), skipping the key.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for len(data) > 0 {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
	return nil, errors.New("no certificate in the cache entry")
}

var _ Source = (*ACME)(nil)
