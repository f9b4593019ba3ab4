package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"
)

// Source hands out the certificate to serve, and says whether it is valid.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Check(now time.Time) error
}

// ServerConfig is the tls.Config of a listener that serves src's
// certificate: TLS 1.2 at least, HTTP/1.1 only (WebSocket upgrades need
// it), plus extra ALPN protocols (acme-tls/1 for ACME's tls-alpn-01).
func ServerConfig(src Source, extraProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: src.GetCertificate,
		NextProtos:     append([]string{"http/1.1"}, extraProtos...),
	}
}

// HSTSMaxAge is how long browsers are told to use HTTPS only.
const HSTSMaxAge = 365 * 24 * time.Hour

// HSTS sets Strict-Transport-Security on every answer of h. Only for a
// handler served over TLS: browsers ignore the header over plain HTTP.
func HSTS(h http.Handler) http.Handler {
	value := fmt.Sprintf("max-age=%d", int64(HSTSMaxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", value)
		h.ServeHTTP(w, r)
	})
}

// validAt checks leaf's validity period at now.
func validAt(leaf *x509.Certificate, now time.Time) error {
	switch {
	case leaf == nil:
		return ErrNoCertificate
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%w at %s (serial %s)", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339), leaf.SerialNumber)
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%w before %s (serial %s)", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.SerialNumber)
	}
	return nil
}
