package control

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/internal/syncbuf"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// TestServerConsent: an application that requires consent admits a join
// only if its tokens carry the backend's signed consent claim — in the
// JWT UserSig, or in a JWT privateMapKey beside a TLSSigAPIv2 UserSig —
// and refuses it (2011) otherwise; one that does not require it admits
// either. Real tokens, a real verifier, a real store; the basis of the
// consent appears in no log line.
func TestServerConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	strict, err := st.CreateApp(ctx, "kids", nil, store.Policy{RequireConsent: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	lax, err := st.CreateApp(ctx, "grown-ups", nil, store.Policy{}, now)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	h := newHarness(t, func(c *ServerConfig) {
		c.Verifier = &auth.Verifier{Keys: st}
		c.Withdrawals = st
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Limits = func(ctx context.Context, app uint32) (Limits, error) {
			a, err := st.App(ctx, app)
			return Limits{RequireConsent: a.Policy.RequireConsent}, err
		}
	})
	sign := func(app uint32, user string, edit func(*auth.Claims), tls bool, pm *auth.PrivateMap) string {
		t.Helper()
		key, err := st.SigningKey(ctx, app, now)
		if err != nil {
			t.Fatal(err)
		}
		c := auth.Claims{SDKAppID: app, UserID: user, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if edit != nil {
			edit(&c)
		}
		var tok string
		if tls {
			tok, err = auth.SignTLS(key, c, pm)
		} else {
			tok, err = auth.SignJWT(key, c)
		}
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	consent := func(basis string) func(*auth.Claims) { return func(c *auth.Claims) { c.Consent = basis } }
	jwtPMK := func(app uint32, user, basis string) string {
		return sign(app, user, func(c *auth.Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap, c.Consent = 123, auth.PrivAll, true, basis
		}, false, nil)
	}
	for _, tc := range []struct {
		name     string
		app      uint32
		user     string
		sig, pmk string
		code     signaling.Code // 0: admitted
	}{
		{"no consent", strict.SDKAppID, "kid-a", sign(strict.SDKAppID, "kid-a", nil, false, nil), "", signaling.CodeConsentRequired},
		{"adult", strict.SDKAppID, "kid-b", sign(strict.SDKAppID, "kid-b", consent(auth.ConsentAdult), false, nil), "", 0},
		{"parental", strict.SDKAppID, "kid-c", sign(strict.SDKAppID, "kid-c", consent(auth.ConsentParental), false, nil), "", 0},
		{"TLSSigAPIv2 carries none", strict.SDKAppID, "kid-d", sign(strict.SDKAppID, "kid-d", nil, true, nil), "", signaling.CodeConsentRequired},
		{"TLSSigAPIv2 privateMapKey carries none", strict.SDKAppID, "kid-e", sign(strict.SDKAppID, "kid-e", nil, true, nil),
			sign(strict.SDKAppID, "kid-e", nil, true, &auth.PrivateMap{RoomID: 123, Privileges: auth.PrivAll}), signaling.CodeConsentRequired},
		{"TLS UserSig, JWT privateMapKey with consent", strict.SDKAppID, "kid-f", sign(strict.SDKAppID, "kid-f", nil, true, nil),
			jwtPMK(strict.SDKAppID, "kid-f", auth.ConsentParental), 0},
		{"JWT privateMapKey without consent", strict.SDKAppID, "kid-g", sign(strict.SDKAppID, "kid-g", nil, true, nil),
			jwtPMK(strict.SDKAppID, "kid-g", ""), signaling.CodeConsentRequired},
		{"not required", lax.SDKAppID, "adult-h", sign(lax.SDKAppID, "adult-h", nil, false, nil), "", 0},
		{"not required, given anyway", lax.SDKAppID, "adult-i", sign(lax.SDKAppID, "adult-i", consent(auth.ConsentAdult), false, nil), "", 0},
	} {
		ws := h.joinAs(t, tc.user, tc.sig, func(d map[string]any) {
			d["sdkAppId"] = tc.app
			if tc.pmk != "" {
				d["privateMapKey"] = tc.pmk
			}
		})
		if tc.code != 0 {
			refused(t, ws, tc.code)
			continue
		}
		if op := h.nextOpen(t); op.open.UserID != tc.user {
			t.Fatalf("%s: opened %q", tc.name, op.open.UserID)
		}
	}
	h.noOpen(t)
	out := logs.String()
	if !strings.Contains(out, "join refused") {
		t.Fatal("no log line at all: the check proves nothing")
	}
	for _, s := range []string{auth.ConsentAdult, auth.ConsentParental, "kid-"} { // the refusal's code text, "consent required", names no statement
		if strings.Contains(out, s) {
			t.Errorf("the log holds %q:\n%s", s, out)
		}
	}
}
