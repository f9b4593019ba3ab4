package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Names of the files Bootstrap lays out in the data dir.
const (
	DBFile       = "lethe.db"
	AdminKeyFile = "admin.key"
	// AuditorKeyFile holds the auditor key: it reads the full attestation
	// and nothing else.
	AuditorKeyFile = "auditor.key"
	// DefaultAppName names the application Bootstrap creates in a new store.
	DefaultAppName = "default"
)

// adminKeyLen is the number of random bytes in the admin and auditor keys.
const adminKeyLen = 32

// Info describes a bootstrapped data dir. It holds paths, never secrets.
type Info struct {
	DataDir        string // absolute
	DBPath         string
	AdminKeyPath   string
	AuditorKeyPath string
	// DefaultApp is the oldest app named DefaultAppName; zero if it was deleted.
	DefaultApp App
	// Created: this call created the database, so the data dir is fresh.
	Created bool
	// Keys is what the start-up MaintainKeys did.
	Keys KeyReport
}

// Bootstrap prepares the data dir dir and opens its store:
//   - creates dir (mode 0700) if missing;
//   - opens dir/lethe.db (created 0600 if missing) with opts and migrates it;
//   - creates dir/admin.key (mode 0600: 32 random bytes as unpadded base64url
//     and a newline) if missing, and refuses an existing one that group or
//     others may read (ErrUnsafeFile); the same for dir/auditor.key;
//   - if the store has no application, creates DefaultAppName with
//     DefaultPolicy and its first signing key, in one transaction;
//   - runs MaintainKeys at now (the start-up run) and checkpoints the WAL if
//     it destroyed keys.
//
// Called again on the same dir at the same now it changes nothing. Neither
// errors nor Info carry the admin key or any secret.
func Bootstrap(ctx context.Context, dir string, now time.Time, opts ...Option) (*Store, Info, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, Info{}, fmt.Errorf("store: bootstrap: %w", err)
	}
	info := Info{
		DataDir:        abs,
		DBPath:         filepath.Join(abs, DBFile),
		AdminKeyPath:   filepath.Join(abs, AdminKeyFile),
		AuditorKeyPath: filepath.Join(abs, AuditorKeyFile),
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, Info{}, fmt.Errorf("store: bootstrap: data dir: %w", err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, Info{}, fmt.Errorf("store: bootstrap: data dir: %w", err)
	} else if !fi.IsDir() {
		return nil, Info{}, fmt.Errorf("store: bootstrap: data dir %s is not a directory", abs)
	}
	if _, err := os.Stat(info.DBPath); errors.Is(err, fs.ErrNotExist) {
		info.Created = true
	} else if err != nil {
		return nil, Info{}, fmt.Errorf("store: bootstrap: %w", err)
	}
	if err := ensureKey(info.AdminKeyPath, "admin key"); err != nil {
		return nil, Info{}, err
	}
	if err := ensureKey(info.AuditorKeyPath, "auditor key"); err != nil {
		return nil, Info{}, err
	}
	s, err := Open(ctx, info.DBPath, opts...)
	if err != nil {
		return nil, Info{}, err
	}
	if err := s.ensureDefaultApp(ctx, now); err != nil {
		_ = s.Close()
		return nil, Info{}, err
	}
	if info.Keys, err = s.MaintainKeys(ctx, now); err != nil {
		_ = s.Close()
		return nil, Info{}, fmt.Errorf("store: bootstrap: %w", err)
	}
	if info.Keys.Destroyed > 0 {
		// Best effort: a reader may hold the WAL; the next checkpoint purges it.
		_ = s.Checkpoint(ctx)
	}
	info.DefaultApp, err = s.AppByName(ctx, DefaultAppName)
	if err != nil && !errors.Is(err, ErrNotFound) {
		_ = s.Close()
		return nil, Info{}, fmt.Errorf("store: bootstrap: %w", err)
	}
	return s, info, nil
}

// ensureDefaultApp creates the default app and its first key if the store
// has no app at all. The transaction begins IMMEDIATE (see dsn), so two
// concurrent bootstraps cannot both see an empty store.
func (s *Store) ensureDefaultApp(ctx context.Context, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM apps`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		_, err := s.createApp(ctx, tx, DefaultAppName, nil, DefaultPolicy(), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: bootstrap: %w", err)
	}
	return nil
}

// ensureKey creates the key file at path (what: "admin key", "auditor
// key") if missing, and checks that an existing one is a private regular
// file.
func ensureKey(path, what string) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		return checkPrivate(path, what, fi)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: %s: %w", what, err)
	}
	raw := make([]byte, adminKeyLen)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	text := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw))+1)
	base64.RawURLEncoding.Encode(text, raw)
	text[len(text)-1] = '\n'
	clear(raw)
	defer clear(text)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another bootstrap won the race
		fi, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		return checkPrivate(path, what, fi)
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	_, werr := f.Write(text)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return fmt.Errorf("store: %s: write %s: %w", what, path, werr)
	}
	return nil
}

func checkPrivate(path, what string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("store: %s %s is not a regular file", what, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, want 0600", ErrUnsafeFile, path, fi.Mode().Perm())
	}
	return nil
}
