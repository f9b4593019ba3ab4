package tlscert

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Log keys.
const (
	logKeyCert   = "cert"
	logKeySerial = "serial"
	logKeyExpiry = "notAfter"
	logKeyErr    = "err"
)

// FilesConfig names a PEM certificate (the leaf first, then its chain) and
// its PEM private key.
type FilesConfig struct {
	CertFile, KeyFile string
	// Logger receives reloads and refused replacements; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnLoad, if set, is called with the two files' bytes each time a
	// pair enters service (the first load, then every replacement), for
	// other listeners of the same certificate (the TURN relay's, in the
	// media workers). The bytes are wiped when it returns: keep a copy.
	OnLoad func(certPEM, keyPEM []byte)
}

// Files serves the certificate in a pair of PEM files and loads them
// again on Reload, or on a Watch tick when their content has changed.
// Safe for concurrent use.
type Files struct {
	cfg FilesConfig

	cur atomic.Pointer[loaded]

	mu     sync.Mutex // serializes loads; guards tried
	tried  [sha256.Size]byte
	hasTry bool
}

// loaded is one certificate in service.
type loaded struct {
	cert   *tls.Certificate
	digest [sha256.Size]byte // of the two files' bytes
}

// LoadFiles loads the pair once; an error (unreadable file, no PEM, a key
// that does not match, a certificate not valid now) means nothing is
// served.
func LoadFiles(cfg FilesConfig) (*Files, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, fmt.Errorf("tlscert: a certificate file and a key file are both needed")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Files{cfg: cfg}
	l, _, err := f.read()
	if err != nil {
		return nil, err
	}
	f.cur.Store(l)
	return f, nil
}

// read reads and parses both files. The key's bytes are wiped once parsed.
func (f *Files) read() (*loaded, [sha256.Size]byte, error) {
	var digest [sha256.Size]byte
	certPEM, err := os.ReadFile(f.cfg.CertFile)
	if err != nil {
		return nil, digest, fmt.Errorf("tlscert: certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.cfg.KeyFile)
	if err != nil {
		return nil, digest, fmt.Errorf("tlscert: key: %w", err)
	}
	defer clear(keyPEM)
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	h.Sum(digest[:0])
	// Errors of X509KeyPair name what is wrong, never the bytes.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, digest, fmt.Errorf("tlscert: %s and %s: %w", f.cfg.CertFile, f.cfg.KeyFile, err)
	}
	if err := validAt(cert.Leaf, f.cfg.Now()); err != nil {
		return nil, digest, fmt.Errorf("tlscert: %s: %w", f.cfg.CertFile, err)
	}
	l := &loaded{cert: &cert, digest: digest}
	if f.cfg.OnLoad != nil && (f.cur.Load() == nil || f.cur.Load().digest != digest) {
		f.cfg.OnLoad(certPEM, keyPEM)
	}
	return l, digest, nil
}

// Reload loads the files again and, if they are good, serves them from
// the next handshake on. On error the certificate in service stays.
func (f *Files) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked(true)
}

// reloadLocked loads the files; with force unset, only when they differ
// from the pair in service and from the last pair that failed.
func (f *Files) reloadLocked(force bool) error {
	l, digest, err := f.read()
	if !force && (digest == f.cur.Load().digest || (f.hasTry && digest == f.tried)) {
		return nil // unchanged, or the same bad pair again: said already
	}
	f.tried, f.hasTry = digest, true
	if err != nil {
		f.cfg.Logger.Warn("TLS certificate not replaced; the previous one stays in service",
			logKeyCert, f.cfg.CertFile, logKeyErr, err.Error())
		return err
	}
	if l.digest != f.cur.Load().digest {
		f.cur.Store(l)
		f.cfg.Logger.Info("TLS certificate loaded", logKeyCert, f.cfg.CertFile,
			logKeySerial, l.cert.Leaf.SerialNumber.String(), logKeyExpiry, l.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Watch loads the files on every tick whose content differs from the
// pair in service (and from the last pair that failed), until ctx ends.
// A renewal tool that writes the certificate and the key one after the
// other is seen as one failed pair, then the good one.
func (f *Files) Watch(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			f.Poll()
		}
	}
}

// Poll loads the files if their content differs from the pair in service
// and from the last pair that failed: one tick of Watch.
func (f *Files) Poll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.reloadLocked(false)
}

// GetCertificate serves the certificate in service (tls.Config hook).
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cur.Load().cert, nil
}

// Leaf is the certificate in service.
func (f *Files) Leaf() *x509.Certificate { return f.cur.Load().cert.Leaf }

// Check says whether the certificate in service is valid at now.
func (f *Files) Check(now time.Time) error {
	l := f.cur.Load()
	if l == nil {
		return ErrNoCertificate
	}
	return validAt(l.cert.Leaf, now)
}

var _ Source = (*Files)(nil)
