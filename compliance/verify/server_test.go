package verify

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

const sampleBanner = `Lethe 0.1.0-dev — WebRTC SFU, media in memory only
  signaling:  ws://127.0.0.1:34435/v1/signal
  worker 0:   pid 31735, media udp 127.0.0.1:40001, locked down (Landlock ABI 6, no writable path, not dumpable, core limit 0)
  worker 1:   pid 31736, media udp 127.0.0.1:40002, !!! lock-down NOT ENFORCED: x
  data dir:   /tmp/x/data
  admin key:  /tmp/x/data/admin.key
  app:        SDKAppID 1400000001 ("default")
  mint a token:
    lethe token --data-dir /tmp/x/data --app 1400000001 --user alice --ttl 1h
`

func TestParseBanner(t *testing.T) {
	t.Parallel()
	b, ok := ParseBanner([]byte(sampleBanner))
	want := Banner{URL: "ws://127.0.0.1:34435/v1/signal", AppID: 1400000001, Workers: []int{31735, 31736}}
	if !ok || b.URL != want.URL || b.AppID != want.AppID || !slices.Equal(b.Workers, want.Workers) {
		t.Fatalf("ParseBanner = %+v, %v", b, ok)
	}
	// Incomplete until both the URL and the app are out.
	half := sampleBanner[:strings.Index(sampleBanner, "  app:")]
	if _, ok := ParseBanner([]byte(half)); ok {
		t.Fatal("complete without the app line")
	}
	for _, bad := range []string{
		"  signaling:  http://127.0.0.1:1/v1/signal\n  app: SDKAppID 5\n",
		"  signaling:  ws://127.0.0.1:1/v1/signal\n  app: SDKAppID 99999999999\n",
		"",
	} {
		if _, ok := ParseBanner([]byte(bad)); ok {
			t.Errorf("ParseBanner(%q) complete", bad)
		}
	}
}

func FuzzParseBanner(f *testing.F) {
	f.Add([]byte(sampleBanner))
	f.Add([]byte("signaling: ws://a/v1/signal\nSDKAppID 0\nworker 1: pid -1,"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := ParseBanner(b)
		if ok && (got.AppID == 0 || !strings.HasPrefix(got.URL, "ws://")) {
			t.Fatalf("complete banner %+v", got)
		}
		for _, w := range got.Workers {
			if w <= 0 {
				t.Fatalf("worker pid %d", w)
			}
		}
	})
}

func TestJWTAppID(t *testing.T) {
	t.Parallel()
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		tok  string
		want uint32
	}{
		{"h." + enc([]byte(`{"sdkappid":1400000001,"sub":"u"}`)) + ".s", 1400000001},
		{"h." + enc([]byte(`{"sub":"u"}`)) + ".s", 0},
		{"h." + enc([]byte(`{"sdkappid":-1}`)) + ".s", 0},
		{"not-a-jwt", 0},
		{"h.%%%.s", 0},
	}
	for _, tt := range tests {
		got, err := jwtAppID(tt.tok)
		if got != tt.want || (tt.want == 0) != (err != nil) {
			t.Errorf("jwtAppID(%q) = %d, %v", tt.tok, got, err)
		}
	}
}

func TestCaptureBound(t *testing.T) {
	t.Parallel()
	var c capture
	big := make([]byte, maxCapture-10)
	if n, err := c.Write(big); n != len(big) || err != nil {
		t.Fatal(n, err)
	}
	if n, err := c.Write(make([]byte, 25)); n != 25 || err != nil {
		t.Fatal(n, err)
	}
	if len(c.Bytes()) != maxCapture || c.Dropped() != 15 {
		t.Fatalf("kept %d, dropped %d", len(c.Bytes()), c.Dropped())
	}
}

func TestWithin(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path, dir string
		want      bool
	}{
		{"/d/data/lethe.db", "/d/data", true},
		{"/d/data/lethe.db-wal (deleted)", "/d/data", true},
		{"/d/data", "/d/data", true},
		{"/d/data2/x", "/d/data", false},
		{"/d/x", "/d/data", false},
		{"/d/data/../x", "/d/data", false},
	} {
		if got := within(tt.path, tt.dir); got != tt.want {
			t.Errorf("within(%q, %q) = %v", tt.path, tt.dir, got)
		}
	}
}
