package adminserver

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/openapi"
)

// The OpenAPI description and the admin route table agree: every route is
// in the spec, and every spec path under /v1/admin/ (and /metrics) is
// routed — and served by the real handler, not answered 404 or 405.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	ops, err := openapi.Operations()
	if err != nil {
		t.Fatal(err)
	}
	routes := Routes()
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	inSpec := map[Route]bool{}
	for _, op := range ops {
		if op.Path == MetricsPath || strings.HasPrefix(op.Path, "/v1/admin/") {
			inSpec[Route{op.Method, op.Path}] = true
		}
	}
	for _, rt := range routes {
		if !inSpec[rt] {
			t.Errorf("%s %s is routed but not in the OpenAPI description", rt.Method, rt.Path)
		}
	}
	for rt := range inSpec {
		if !slices.Contains(routes, rt) {
			t.Errorf("%s %s is in the OpenAPI description but not routed", rt.Method, rt.Path)
		}
	}

	// The real handler serves each: with the admin key, a spec operation
	// is never the router's 404 not_found or 405.
	e := newEnv(t, func(c *Config) { // /metrics is routed only with Metrics
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("# metrics\n")) })
	})
	fill := map[string]string{"{app}": "1400000001", "{kid}": "nokid"}
	for rt := range inSpec {
		p := rt.Path
		for k, v := range fill {
			p = strings.ReplaceAll(p, k, v)
		}
		r := e.do(rt.Method, p, nil)
		if r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotFound && bytes.Contains(r.body, []byte(`"not_found"`)) {
			t.Errorf("%s %s: %d %s", rt.Method, p, r.status, r.body)
		}
	}
}
