package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
)

// signed is a token as the ring sees it: the key it names and its times.
type signed struct {
	app      uint32
	kid      string
	iat, exp time.Time
}

// verifiable is this test's own check that tok verifies with ring r at
// now: its key is in r, it was issued within the key's signing window, its
// lifetime is within r's cap, and it has not expired.
func verifiable(r auth.Ring, tok signed, now time.Time) error {
	for _, k := range r.Keys {
		if k.ID != tok.kid {
			continue
		}
		switch {
		case k.Revoked:
			return errors.New("key revoked")
		case tok.iat.Before(k.NotBefore) || tok.iat.After(k.NotAfter):
			return fmt.Errorf("iat %v outside the key's window %v..%v", tok.iat, k.NotBefore, k.NotAfter)
		case tok.exp.Sub(tok.iat) > r.MaxTokenTTL:
			return errors.New("lifetime over the cap")
		case now.After(tok.exp):
			return errors.New("expired")
		}
		return nil
	}
	return errors.New("key not in the ring")
}

// TestRotationKeepsTokensValid drives MaintainKeys once a simulated minute
// over several days for apps with different policies, with manual
// rotations on the way. Every minute it signs a token per app with the
// signing key, and now and then one with every other key still in its
// signing window (a backend that fetched the key earlier). Every token must
// stay verifiable until its exp; every key must be destroyed within a
// minute of the moment no token of it can be valid; a signing key must
// exist at every instant, and its successor before it stops signing; and
// at the end no destroyed key's secret is anywhere in the database files.
func TestRotationKeepsTokensValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	start := testNow
	policies := []Policy{
		DefaultPolicy(), // 24 h keys, 24 h tokens
		{KeyLifetime: time.Hour, MaxTokenTTL: 3 * time.Hour},          // tokens outlive keys
		{KeyLifetime: MinKeyLifetime, MaxTokenTTL: 30 * time.Second},  // fastest rotation
		{KeyLifetime: 7 * 24 * time.Hour, MaxTokenTTL: 7 * time.Hour}, // longest keys
	}
	var apps []App
	for i, p := range policies {
		a, err := s.CreateApp(ctx, fmt.Sprintf("app%d", i), nil, p, start)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}

	const (
		step = MaintainEvery
		days = 3
	)
	secrets := map[string][]byte{} // app/kid → secret, of every key ever seen
	var (
		tokens    []signed
		destroyed = map[string]bool{}
		created   int
		rotations int
	)
	id := func(app uint32, kid string) string { return fmt.Sprint(app, "/", kid) }
	for now := start; now.Before(start.Add(days * 24 * time.Hour)); now = now.Add(step) {
		rep, err := s.MaintainKeys(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		created += rep.Created
		// Manual rotations of the default-policy app, mid-window.
		if n := now.Sub(start); n == 30*time.Hour || n == 31*time.Hour+7*time.Minute {
			if _, err := s.RotateKey(ctx, apps[0].SDKAppID, now); err != nil {
				t.Fatal(err)
			}
			rotations++
		}
		for _, a := range apps {
			r, err := s.Ring(ctx, a.SDKAppID)
			if err != nil {
				t.Fatal(err)
			}
			inRing := map[string]bool{}
			for _, k := range r.Keys {
				inRing[k.ID] = true
				if old, ok := secrets[id(a.SDKAppID, k.ID)]; ok && !bytes.Equal(old, k.Secret) {
					t.Fatalf("key %s changed its secret", k.ID)
				}
				secrets[id(a.SDKAppID, k.ID)] = k.Secret
				// Destroyed on time: no key outlives its last token by more
				// than the leeway and one maintenance period.
				if now.After(k.NotAfter.Add(a.Policy.MaxTokenTTL + keyLeeway)) {
					t.Fatalf("app %d at +%v: key %s still in the ring, window ended %v", a.SDKAppID, now.Sub(start), k.ID, k.NotAfter.Sub(start))
				}
			}
			for kid := range secrets {
				if strings.HasPrefix(kid, fmt.Sprint(a.SDKAppID, "/")) && !inRing[strings.TrimPrefix(kid, fmt.Sprint(a.SDKAppID, "/"))] {
					destroyed[kid] = true
				}
			}
			k, err := s.SigningKey(ctx, a.SDKAppID, now)
			if err != nil {
				t.Fatalf("app %d at +%v: no signing key: %v", a.SDKAppID, now.Sub(start), err)
			}
			// The successor exists before the signing key stops signing.
			later := now.Add(renewMargin(a.Policy.KeyLifetime) - step)
			if _, err := s.SigningKey(ctx, a.SDKAppID, later); err != nil {
				t.Fatalf("app %d at +%v: no key signing %v later", a.SDKAppID, now.Sub(start), later.Sub(now))
			}
			tokens = append(tokens, signed{a.SDKAppID, k.ID, now, now.Add(a.Policy.MaxTokenTTL)})
			if now.Minute()%17 == 0 {
				for _, o := range r.Keys {
					if o.ID != k.ID && !now.Before(o.NotBefore) && now.Before(o.NotAfter) {
						tokens = append(tokens, signed{a.SDKAppID, o.ID, now, now.Add(a.Policy.MaxTokenTTL)})
					}
				}
			}
			live := tokens[:0]
			for _, tok := range tokens {
				if tok.app != a.SDKAppID {
					live = append(live, tok)
					continue
				}
				if now.After(tok.exp) {
					continue
				}
				if err := verifiable(r, tok, now); err != nil {
					t.Fatalf("app %d at +%v: token of key %s issued at +%v, exp +%v: %v",
						a.SDKAppID, now.Sub(start), tok.kid, tok.iat.Sub(start), tok.exp.Sub(start), err)
				}
				live = append(live, tok)
			}
			tokens = live
		}
		// Idempotent: a second run at the same instant does nothing.
		if now.Minute() == 0 && now.Hour()%6 == 0 {
			if rep, err := s.MaintainKeys(ctx, now); err != nil || rep != (KeyReport{}) {
				t.Fatalf("second run at +%v: %+v, %v", now.Sub(start), rep, err)
			}
		}
	}
	if rotations != 2 || created < 3*24*6 || len(destroyed) < 3*24*6 {
		t.Fatalf("too little happened to prove anything: %d rotations, %d keys made, %d destroyed", rotations, created, len(destroyed))
	}
	t.Logf("%d keys made automatically, %d destroyed, %d seen", created, len(destroyed), len(secrets))

	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	raw := readDBFiles(t, path)
	present := 0
	for kid, secret := range secrets {
		found := bytes.Contains(raw, secret)
		switch {
		case destroyed[kid] && found:
			t.Errorf("secret of destroyed key %s still in the database files", kid)
		case !destroyed[kid] && !found:
			t.Errorf("secret of live key %s not found in the database files: the scan proves nothing", kid)
		case !destroyed[kid]:
			present++
		}
	}
	if present == 0 {
		t.Error("no live key to prove the scan")
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, a := tempApp(t)
	first, err := s.SigningKey(ctx, a.SDKAppID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow.Add(2 * time.Hour)
	k, err := s.RotateKey(ctx, a.SDKAppID, now)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID == first.ID || len(k.Secret) != auth.SecretLen || !k.NotBefore.Equal(now) || !k.NotAfter.Equal(now.Add(DefaultKeyLifetime)) {
		t.Errorf("new key %v %v..%v", k, k.NotBefore, k.NotAfter)
	}
	if got, err := s.SigningKey(ctx, a.SDKAppID, now); err != nil || got.ID != k.ID || !bytes.Equal(got.Secret, k.Secret) {
		t.Errorf("signing key after rotation = %v, %v; want %v", got, err, k)
	}
	r, err := s.Ring(ctx, a.SDKAppID)
	if err != nil || len(r.Keys) != 2 || r.Keys[0].ID != k.ID || r.Keys[1].ID != first.ID || !r.Keys[1].NotAfter.Equal(now) {
		t.Fatalf("ring after rotation: %+v, %v", r.Keys, err)
	}
	// The old key verifies until its last token can expire, then goes.
	if rep, err := s.MaintainKeys(ctx, now.Add(DefaultMaxTokenTTL)); err != nil || rep.Destroyed != 0 {
		t.Fatalf("maintain before the last token's expiry: %+v, %v", rep, err)
	}
	if rep, err := s.MaintainKeys(ctx, now.Add(DefaultMaxTokenTTL+keyLeeway+time.Second)); err != nil || rep.Destroyed != 1 {
		t.Fatalf("maintain after it: %+v, %v", rep, err)
	}
	if _, err := s.RotateKey(ctx, 42, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown app: err = %v, want ErrNotFound", err)
	}
}

func TestRevokeKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow.Add(23 * time.Hour) // inside the renewal margin: two keys overlap
	if rep, err := s.MaintainKeys(ctx, now); err != nil || rep.Created != 1 {
		t.Fatalf("maintain: %+v, %v", rep, err)
	}
	signing, err := s.SigningKey(ctx, a.SDKAppID, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readDBFiles(t, path), signing.Secret) {
		t.Fatal("secret not in the database files before revocation: the test proves nothing")
	}

	if err := s.RevokeKey(ctx, a.SDKAppID, signing.ID, now); err != nil {
		t.Fatal(err)
	}
	r, err := s.Ring(ctx, a.SDKAppID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range r.Keys {
		if k.ID == signing.ID {
			t.Fatal("revoked key still in the ring")
		}
	}
	next, err := s.SigningKey(ctx, a.SDKAppID, now)
	if err != nil || next.ID == signing.ID || !next.NotBefore.Equal(now) {
		t.Fatalf("signing key after revoking the signing key: %v from %v, %v; want a new one", next, next.NotBefore, err)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(readDBFiles(t, path), signing.Secret) {
		t.Error("revoked secret still in the database files")
	}

	// Revoking every key one by one never leaves an active app without a
	// signing key.
	for range 5 {
		keys, err := s.Keys(ctx, a.SDKAppID, now)
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys: %v, %v", keys, err)
		}
		if err := s.RevokeKey(ctx, a.SDKAppID, keys[len(keys)-1].ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SigningKey(ctx, a.SDKAppID, now); err != nil {
			t.Fatalf("no signing key after a revocation: %v", err)
		}
	}
	for _, kid := range []string{"nope", "", "' OR 1=1--", "../../etc/passwd", strings.Repeat("k", 10_000)} {
		err := s.RevokeKey(ctx, a.SDKAppID, kid, now)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke %.20q: err = %v, want ErrNotFound", kid, err)
		} else if kid != "" && strings.Contains(err.Error(), kid) {
			t.Errorf("revoke %.20q: error shows the kid", kid)
		}
	}
	if err := s.RevokeKey(ctx, 42, next.ID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown app: err = %v, want ErrNotFound", err)
	}
}

func TestKeysMetadataOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	a, err := s.CreateApp(ctx, "a", nil, Policy{MaxTokenTTL: time.Hour}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateKey(ctx, a.SDKAppID, testNow.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	now := testNow.Add(3 * time.Hour)
	if _, err := s.RotateKey(ctx, a.SDKAppID, now); err != nil {
		t.Fatal(err)
	}
	pending := auth.Key{ID: "pending-1", Secret: bytes.Repeat([]byte{'p'}, 64), NotBefore: testNow.Add(30 * time.Hour), NotAfter: testNow.Add(31 * time.Hour)}
	if err := s.AddKey(ctx, a.SDKAppID, pending, now); err != nil {
		t.Fatal(err)
	}
	r, err := s.Ring(ctx, a.SDKAppID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(ctx, a.SDKAppID, now)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, k := range keys {
		states = append(states, string(k.State))
		if !k.VerifyUntil.Equal(k.NotAfter.Add(time.Hour)) || k.CreatedAt.IsZero() {
			t.Errorf("key %+v", k)
		}
	}
	// Newest first: the pending key, the signing one, the one retired at
	// +3h (verifying until +4h), the first (retired at +30m: expired).
	if got := strings.Join(states, " "); got != "pending signing verifying expired" {
		t.Errorf("states %q", got)
	}
	dump := fmt.Sprintf("%+v %#v", keys, keys)
	if len(r.Keys) != 4 {
		t.Fatalf("%d keys in the ring, want 4", len(r.Keys))
	}
	for _, k := range r.Keys {
		if strings.Contains(dump, string(k.Secret)) {
			t.Fatal("Keys shows a secret")
		}
	}
	typ := reflect.TypeFor[KeyInfo]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Type.Kind() == reflect.Slice || strings.Contains(strings.ToLower(f.Name), "secret") {
			t.Errorf("KeyInfo has field %s %v", f.Name, f.Type)
		}
	}
	if _, err := s.Keys(ctx, 42, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown app: err = %v, want ErrNotFound", err)
	}
}

func TestAddKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, a := tempApp(t)
	secret := bytes.Repeat([]byte{'s'}, 64)
	good := auth.Key{ID: "imported", Secret: secret, NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}
	if err := s.AddKey(ctx, a.SDKAppID, good, testNow); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		app  uint32
		k    auth.Key
		want error
	}{
		{"duplicate kid", a.SDKAppID, good, ErrExists},
		{"unknown app", 42, good, ErrNotFound},
		{"short secret", a.SDKAppID, auth.Key{ID: "k", Secret: []byte("123"), NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}, ErrInvalid},
		{"bad kid", a.SDKAppID, auth.Key{ID: "../k", Secret: secret, NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}, ErrInvalid},
		{"no window", a.SDKAppID, auth.Key{ID: "k", Secret: secret}, ErrInvalid},
		{"empty window", a.SDKAppID, auth.Key{ID: "k", Secret: secret, NotBefore: testNow, NotAfter: testNow}, ErrInvalid},
		{"window over the lifetime", a.SDKAppID, auth.Key{ID: "k", Secret: secret, NotBefore: testNow, NotAfter: testNow.Add(25 * time.Hour)}, ErrInvalid},
	} {
		if err := s.AddKey(ctx, tc.app, tc.k, testNow); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.Ring(ctx, 42); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Ring(42): err = %v, want auth.ErrUnknownApp", err)
	}
	if _, err := s.SigningKey(ctx, 42, testNow); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("SigningKey(42): err = %v, want auth.ErrUnknownApp", err)
	}
	if _, err := s.SigningKey(ctx, a.SDKAppID, testNow.Add(-time.Second)); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("SigningKey before any key: err = %v, want auth.ErrUnknownKey", err)
	}
}
