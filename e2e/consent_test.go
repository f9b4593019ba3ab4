package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// An application created with `lethe app create --require-consent` admits
// only joins whose token carries its backend's signed statement of
// consent: one minted with `lethe token` without --consent is refused
// with 2011, one with --consent parental, or minted by the admin API with
// "consent": "adult", joins. Nothing of the consents reaches the data dir
// or the application log.
func TestConsentRequired(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	var app struct {
		SDKAppID uint32 `json:"sdkAppId"`
		Policy   struct {
			RequireConsent bool `json:"requireConsent"`
		} `json:"policy"`
	}
	if err := json.Unmarshal([]byte(s.app("create", "--name", "kids", "--require-consent", "--json")), &app); err != nil || !app.Policy.RequireConsent {
		t.Fatalf("create --require-consent: %+v, %v", app, err)
	}
	id := strconv.FormatUint(uint64(app.SDKAppID), 10)
	join := func(user, sig string) error {
		t.Helper()
		c := s.dial(t)
		_, err := c.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: app.SDKAppID, UserID: user, UserSig: sig, RoomID: 1})
		return err
	}

	uid := func(name string) string {
		u := name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		s.keepSecret(u)
		return u
	}
	none, parental, adult := uid("none"), uid("parental"), uid("adult")
	if err := join(none, s.tokenFor(app.SDKAppID, none)); codeOf(err) != signaling.CodeConsentRequired {
		t.Fatalf("join without consent: %v, want code 2011", err)
	}
	if err := join(parental, s.tokenFor(app.SDKAppID, parental, "--consent", "parental")); err != nil {
		t.Fatalf("join with parental consent: %v", err)
	}
	var minted struct{ UserSig string }
	if err := json.Unmarshal([]byte(s.app("usersig", id, "--user", adult, "--consent", "adult", "--json")), &minted); err != nil {
		t.Fatal(err)
	}
	s.keepSecret(minted.UserSig)
	if err := join(adult, minted.UserSig); err != nil {
		t.Fatalf("join with a minted token stating adult consent: %v", err)
	}
	// The default app requires none.
	if _, err := s.tryJoin(t, joinOpts{user: "grown-up", room: 1}); err != nil {
		t.Fatalf("join to an app that requires no consent: %v", err)
	}

	// The application log says what was done, never for whom or on which basis.
	log := s.app("log", id, "--json")
	if !strings.Contains(log, "usersig.mint") {
		t.Fatalf("log lacks the mint:\n%s", log)
	}
	for _, v := range []string{"adult", "parental", "consent", none, parental, adult} {
		if strings.Contains(log, v) {
			t.Errorf("the application log holds %q", v)
		}
	}
	words := regexp.MustCompile(`(?i)adult|parental`) // the bases (the schema names the policy column require_consent)
	for _, f := range []string{store.DBFile, store.DBFile + "-wal", store.DBFile + "-shm"} {
		b, err := os.ReadFile(filepath.Join(s.dataDir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if m := words.Find(b); m != nil {
			t.Errorf("%s holds %q", f, m)
		}
		for _, u := range []string{none, parental, adult} {
			if bytes.Contains(b, []byte(u)) {
				t.Errorf("%s holds a user id", f)
			}
		}
	}
}
