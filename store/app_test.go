package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
)

func TestApps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	if apps, err := s.Apps(ctx); err != nil || apps == nil || len(apps) != 0 {
		t.Fatalf("empty store: %v, %v", apps, err)
	}
	p := Policy{KeyLifetime: time.Hour, MaxTokenTTL: 2 * time.Hour, RequirePrivateMapKey: true, MaxAnchors: 2, MaxParticipants: 50,
		Retention: 2 * 24 * time.Hour, RequireConsent: true}
	x, err := s.CreateApp(ctx, "x", []string{"prod", "eu"}, p, testNow.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if x.Policy != p || x.Status != StatusActive || len(x.Tags) != 2 {
		t.Errorf("CreateApp = %+v", x)
	}
	y, err := s.CreateApp(ctx, "x", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if y.Policy != DefaultPolicy() || y.Tags == nil {
		t.Errorf("zero policy and nil tags: %+v", y)
	}
	apps, err := s.Apps(ctx)
	if err != nil || len(apps) != 2 || apps[0].SDKAppID != y.SDKAppID || apps[1].SDKAppID != x.SDKAppID {
		t.Fatalf("Apps = %+v, %v; want y then x", apps, err)
	}
	got, err := s.App(ctx, x.SDKAppID)
	if err != nil || got.Name != "x" || !got.CreatedAt.Equal(x.CreatedAt) || got.Policy != p ||
		strings.Join(got.Tags, ",") != "prod,eu" {
		t.Errorf("App = %+v, %v", got, err)
	}
	if got, err := s.AppByName(ctx, "x"); err != nil || got.SDKAppID != y.SDKAppID {
		t.Errorf("AppByName = %+v, %v; want the oldest", got, err)
	}
	if _, err := s.App(ctx, 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("App(7): err = %v, want ErrNotFound", err)
	}
	if _, err := s.AppByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AppByName: err = %v, want ErrNotFound", err)
	}
	// Each new app comes with one signing key, valid from its creation.
	for _, a := range []App{x, y} {
		k, err := s.SigningKey(ctx, a.SDKAppID, a.CreatedAt)
		if err != nil || !k.NotAfter.Equal(a.CreatedAt.Add(a.Policy.KeyLifetime)) {
			t.Errorf("first key of %d: %v..%v, %v", a.SDKAppID, k.NotBefore, k.NotAfter, err)
		}
	}
}

func TestAppValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	tags := func(n int) []string {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = "t" + strings.Repeat("x", i)
		}
		return ts
	}
	ok := Policy{}
	for _, tc := range []struct {
		name string
		app  string
		tags []string
		p    Policy
	}{
		{"empty name", "", nil, ok},
		{"65-byte name", strings.Repeat("n", MaxAppNameLen+1), nil, ok},
		{"not UTF-8", "\xff", nil, ok},
		{"CRLF in name", "a\r\nb", nil, ok},
		{"LF in name", "a\nb", nil, ok},
		{"NUL in name", "a\x00b", nil, ok},
		{"ESC in name", "a\x1b[31mb", nil, ok},
		{"DEL in name", "a\x7fb", nil, ok},
		{"C1 in name", "a\u0085b", nil, ok},
		{"line separator", "a\u2028b", nil, ok},
		{"bidi override", "a\u202eb", nil, ok},
		{"17 tags", "a", tags(MaxTags + 1), ok},
		{"empty tag", "a", []string{""}, ok},
		{"33-byte tag", "a", []string{strings.Repeat("t", MaxTagLen+1)}, ok},
		{"CRLF in tag", "a", []string{"x\r\ny"}, ok},
		{"tab in tag", "a", []string{"x\ty"}, ok},
		{"duplicate tags", "a", []string{"x", "x"}, ok},
		{"lifetime too short", "a", nil, Policy{KeyLifetime: time.Minute}},
		{"lifetime too long", "a", nil, Policy{KeyLifetime: 8 * 24 * time.Hour}},
		{"lifetime fraction", "a", nil, Policy{KeyLifetime: time.Hour + time.Millisecond}},
		{"negative TTL", "a", nil, Policy{MaxTokenTTL: -time.Second}},
		{"TTL over 7 days", "a", nil, Policy{MaxTokenTTL: 7*24*time.Hour + time.Second}},
		{"negative anchors", "a", nil, Policy{MaxAnchors: -1}},
		{"huge participants", "a", nil, Policy{MaxParticipants: MaxLimit + 1}},
		{"anchors above participants", "a", nil, Policy{MaxAnchors: 3, MaxParticipants: 2}},
		{"retention under an hour", "a", nil, Policy{Retention: time.Hour - time.Second}},
		{"retention over 7 days", "a", nil, Policy{Retention: MaxRetention + time.Second}},
		{"retention fraction", "a", nil, Policy{Retention: 2*time.Hour + time.Millisecond}},
		{"negative retention", "a", nil, Policy{Retention: -time.Hour}},
	} {
		if _, err := s.CreateApp(ctx, tc.app, tc.tags, tc.p, testNow); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateApp, %s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
	if apps, _ := s.Apps(ctx); len(apps) != 0 {
		t.Fatalf("%d apps recorded by invalid creates", len(apps))
	}
	for _, tc := range []struct {
		name string
		app  string
		tags []string
	}{
		{"64-byte name", strings.Repeat("n", MaxAppNameLen), nil},
		{"16 tags of 32 bytes", "a", func() []string {
			ts := tags(MaxTags)
			ts[0] = strings.Repeat("t", MaxTagLen)
			return ts
		}()},
		{"non-ASCII", "Café ☕ 会议", []string{"标签"}},
		{"emoji with joiner", "team 👩\u200d💻", nil},
	} {
		if _, err := s.CreateApp(ctx, tc.app, tc.tags, Policy{}, testNow); err != nil {
			t.Errorf("CreateApp, %s: %v", tc.name, err)
		}
	}

	a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	bad := "x\r\ny"
	badTags := tags(MaxTags + 1)
	badPolicy := Policy{MaxTokenTTL: 8 * 24 * time.Hour}
	for _, u := range []AppUpdate{{}, {Name: &bad}, {Tags: &badTags}, {Policy: &badPolicy}} {
		if _, err := s.UpdateApp(ctx, a.SDKAppID, u, testNow); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpdateApp(%+v): err = %v, want ErrInvalid", u, err)
		}
	}
	if got, _ := s.App(ctx, a.SDKAppID); got.Name != "a" || got.Policy != DefaultPolicy() {
		t.Errorf("app changed by invalid updates: %+v", got)
	}
}

func TestUpdateApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	a, err := s.CreateApp(ctx, "a", []string{"x"}, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	got, err := s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Name: &name}, testNow)
	if err != nil || got.Name != name || strings.Join(got.Tags, ",") != "x" || got.Policy != DefaultPolicy() {
		t.Fatalf("rename: %+v, %v", got, err)
	}
	none := []string(nil)
	got, err = s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Tags: &none}, testNow)
	if err != nil || got.Tags == nil || len(got.Tags) != 0 || got.Name != name {
		t.Fatalf("clear tags: %+v, %v", got, err)
	}
	// A shorter key lifetime cuts the current key's window to one new
	// lifetime from now; the next maintenance run renews ahead of it.
	now := testNow.Add(time.Hour)
	p := Policy{KeyLifetime: time.Hour, MaxTokenTTL: 30 * time.Minute, Retention: 3 * time.Hour, RequireConsent: true}
	got, err = s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Policy: &p}, now)
	if err != nil || got.Policy != p {
		t.Fatalf("policy: %+v, %v", got, err)
	}
	// The consent policy is one bit of the app's row, nothing else: a
	// consent itself is never stored (TestDataMap pins every column).
	var bit int
	if err := s.db.QueryRowContext(ctx, `SELECT require_consent FROM apps WHERE sdk_app_id = ?`, a.SDKAppID).Scan(&bit); err != nil || bit != 1 {
		t.Fatalf("require_consent %d, %v", bit, err)
	}
	if stored, _ := s.App(ctx, a.SDKAppID); stored.Policy != p || stored.Name != name {
		t.Errorf("stored %+v", stored)
	}
	k, err := s.SigningKey(ctx, a.SDKAppID, now)
	if err != nil || !k.NotAfter.Equal(now.Add(time.Hour)) {
		t.Fatalf("signing key after the policy change: %v..%v, %v", k.NotBefore, k.NotAfter, err)
	}
	r, err := s.Ring(ctx, a.SDKAppID)
	if err != nil || r.MaxTokenTTL != 30*time.Minute || r.RequirePrivateMapKey {
		t.Errorf("ring policy %v %v, %v", r.MaxTokenTTL, r.RequirePrivateMapKey, err)
	}
	if _, err := s.UpdateApp(ctx, 42, AppUpdate{Name: &name}, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown app: err = %v, want ErrNotFound", err)
	}
}

func TestSetStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, a := tempApp(t)
	if got, err := s.SetStatus(ctx, a.SDKAppID, StatusSuspended, testNow); err != nil || got.Status != StatusSuspended {
		t.Fatalf("suspend: %+v, %v", got, err)
	}
	if _, err := s.Ring(ctx, a.SDKAppID); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Ring of a suspended app: err = %v, want auth.ErrUnknownApp", err)
	}
	if _, err := s.SigningKey(ctx, a.SDKAppID, testNow); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("SigningKey of a suspended app: err = %v, want auth.ErrUnknownApp", err)
	}
	// Suspended for three days: maintenance makes no key for it and destroys
	// the old one; resuming makes a fresh signing key at once.
	later := testNow.Add(72 * time.Hour)
	rep, err := s.MaintainKeys(ctx, later)
	if err != nil || rep.Created != 0 || rep.Destroyed != 1 {
		t.Fatalf("maintain while suspended: %+v, %v", rep, err)
	}
	if got, err := s.SetStatus(ctx, a.SDKAppID, StatusActive, later); err != nil || got.Status != StatusActive {
		t.Fatalf("resume: %+v, %v", got, err)
	}
	if k, err := s.SigningKey(ctx, a.SDKAppID, later); err != nil || !k.NotBefore.Equal(later) {
		t.Errorf("signing key after resume: %v, %v", k.NotBefore, err)
	}
	for _, tc := range []struct {
		status Status
		want   error
	}{
		{StatusTerminated, ErrStatus},
		{"deleted", ErrInvalid},
		{"", ErrInvalid},
	} {
		if _, err := s.SetStatus(ctx, a.SDKAppID, tc.status, later); !errors.Is(err, tc.want) {
			t.Errorf("SetStatus(%q): err = %v, want %v", tc.status, err, tc.want)
		}
	}
	if _, err := s.SetStatus(ctx, 42, StatusSuspended, later); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown app: err = %v, want ErrNotFound", err)
	}
	// A terminated app can be neither resumed nor changed, and admits no one.
	if _, err := s.TerminateApp(ctx, a.SDKAppID, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, a.SDKAppID, StatusActive, later); !errors.Is(err, ErrStatus) {
		t.Errorf("resume a terminated app: err = %v, want ErrStatus", err)
	}
	name := "b"
	if _, err := s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Name: &name}, later); !errors.Is(err, ErrStatus) {
		t.Errorf("update a terminated app: err = %v, want ErrStatus", err)
	}
	if _, err := s.RotateKey(ctx, a.SDKAppID, later); !errors.Is(err, ErrStatus) {
		t.Errorf("rotate a terminated app's key: err = %v, want ErrStatus", err)
	}
	if _, err := s.Ring(ctx, a.SDKAppID); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Ring of a terminated app: err = %v, want auth.ErrUnknownApp", err)
	}
	// The schema refuses a status outside the set.
	if _, err := s.db.ExecContext(ctx, `UPDATE apps SET status = 'gone' WHERE sdk_app_id = ?`, a.SDKAppID); err == nil {
		t.Error("schema accepted status 'gone'")
	}
}

func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"", "a", "a\r\nb", "\u202e", "\xff", "会议", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkText("name", s, MaxAppNameLen) != nil {
			return
		}
		if s == "" || len(s) > MaxAppNameLen || strings.ContainsAny(s, "\r\n\x00\x1b\x7f\u2028\u2029") {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if r < 0x20 || (r >= 0x7f && r < 0xa0) {
				t.Fatalf("accepted control %U in %q", r, s)
			}
		}
	})
}
