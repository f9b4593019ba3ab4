package compliance

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// signalingSource is a fakeSource that says how signaling is served.
type signalingSource struct {
	fakeSource
	sig Signaling
}

func (s signalingSource) Signaling() Signaling { return s.sig }

var _ SignalingSource = signalingSource{}

func TestAttestSignaling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  Signaling
		note bool
	}{
		{"tls files", Signaling{Scheme: "https", Certificates: "files", MinTLSVersion: "1.2", HSTS: true}, false},
		{"loopback http", Signaling{Scheme: "http", Loopback: true}, false},
		{"insecure http", Signaling{Scheme: "http", InsecureHTTP: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := Attest(signalingSource{sig: tc.sig}, time.Now())
			if a.Signaling == nil || *a.Signaling != tc.sig {
				t.Fatalf("attestation signaling %+v, want %+v", a.Signaling, tc.sig)
			}
			if got := slices.Contains(a.Notes, insecureHTTPNote); got != tc.note {
				t.Fatalf("insecure-HTTP note present %v, want %v: %q", got, tc.note, a.Notes)
			}
			s := a.Summary()
			if s.Signaling == nil || *s.Signaling != tc.sig {
				t.Fatalf("summary signaling %+v", s.Signaling)
			}
			b, _ := json.Marshal(s)
			if !strings.Contains(string(b), `"signaling":{"scheme":"`+tc.sig.Scheme+`"`) {
				t.Fatalf("summary JSON: %s", b)
			}
		})
	}
	// A source that does not say: no signaling part.
	if a := Attest(fakeSource{}, time.Now()); a.Signaling != nil {
		t.Fatalf("signaling %+v from a source that says nothing", a.Signaling)
	}
}
