package turnrelay_test

import (
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/turnrelay"
)

func TestCredentialIsTURNRESTAPI(t *testing.T) {
	// base64(HMAC-SHA1("secret", "1700000000:42")), computed apart with
	// Python: base64.b64encode(hmac.new(b"secret", u, hashlib.sha1).digest()).
	u := turnrelay.Username(time.Unix(1_700_000_000, 0), "42")
	if u != "1700000000:42" {
		t.Fatalf("username %q", u)
	}
	if got, want := turnrelay.Credential([]byte("secret"), u), "ZzfPuPkrzUOsnm5YISnTiKDnXWo="; got != want {
		t.Errorf("credential %q, want %q", got, want)
	}
}

func TestParseUsername(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ok      bool
		session string
	}{
		{"1700000000:42", true, "42"},
		{"1700000000:a:b", true, "a:b"},
		{"1700000000", false, ""},
		{"1700000000:", false, ""},
		{":42", false, ""},
		{"-5:42", false, ""},
		{"x:42", false, ""},
		{"99999999999999999999:42", false, ""},
		{"1:" + string(make([]byte, 65)), false, ""},
	} {
		_, s, err := turnrelay.ParseUsername(tc.in)
		if (err == nil) != tc.ok || s != tc.session {
			t.Errorf("ParseUsername(%q) = %q, %v", tc.in, s, err)
		}
	}
}

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000000:42", ":", "1:", "-1:x", "1:\x00", "0:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, sess, err := turnrelay.ParseUsername(s)
		if err != nil {
			return
		}
		if back := turnrelay.Username(exp, sess); back != s && "0"+back != s {
			// Leading zeros parse to the same expiry; anything else must
			// come back as it went in.
			if _, s2, _ := turnrelay.ParseUsername(back); s2 != sess {
				t.Fatalf("%q → %v %q → %q", s, exp, sess, back)
			}
		}
	})
}
