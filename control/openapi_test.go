package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/openapi"
)

// The OpenAPI description and the WHIP and WHEP handlers agree: the real
// handlers are asked every method on their resource and on a session
// resource, and answer 405 exactly to those the spec does not describe;
// every spec path under /v1/whip and /v1/whep is one of those two.
func TestOpenAPIMatchesWHIPAndWHEP(t *testing.T) {
	t.Parallel()
	ops, err := openapi.Operations()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil)
	all := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
	for _, tc := range []struct {
		base string
		h    http.Handler
	}{
		{"/v1/whip", NewWHIP(h.srv, HTTPMediaConfig{Path: "/v1/whip"})},
		{"/v1/whep", NewWHEP(h.srv, HTTPMediaConfig{Path: "/v1/whep"})},
	} {
		spec := map[string]map[string]bool{tc.base: {}, tc.base + "/{id}": {}}
		for _, op := range ops {
			if op.Path != tc.base && !strings.HasPrefix(op.Path, tc.base+"/") {
				continue
			}
			if spec[op.Path] == nil {
				t.Errorf("%s %s is in the spec; %s serves only %s and %s/{id}", op.Method, op.Path, tc.base, tc.base, tc.base)
				continue
			}
			spec[op.Path][op.Method] = true
		}
		for path, methods := range spec {
			if len(methods) == 0 {
				t.Errorf("%s: not in the spec", path)
			}
			url := strings.ReplaceAll(path, "{id}", "0123456789abcdef0123456789abcdef")
			for _, m := range all {
				rec := httptest.NewRecorder()
				tc.h.ServeHTTP(rec, httptest.NewRequest(m, url, strings.NewReader("")))
				routed := rec.Code != http.StatusMethodNotAllowed
				if routed != methods[m] {
					t.Errorf("%s %s: %d; in the spec: %v", m, path, rec.Code, methods[m])
				}
			}
		}
	}
}
