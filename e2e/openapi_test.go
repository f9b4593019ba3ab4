package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/openapi"
)

// The real binary serves its OpenAPI description at GET /v1/openapi.json
// without credentials, and its mux routes every operation the description
// has: with the admin key an admin operation is never the router's 404 or
// 405, and WHIP/WHEP never answer 405 to a described method.
func TestOpenAPI(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	defer s.stop()
	hc := s.httpClient()
	defer hc.CloseIdleConnections()
	base := s.httpBase()

	res, err := hc.Get(base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("not an OpenAPI 3.1 document: %q, %v", doc.OpenAPI, err)
	}
	if !bytes.Equal(body, openapi.Document()) {
		t.Fatal("the served document is not the embedded one")
	}

	// Like every endpoint, it answers only to the allowed hosts.
	req, err := http.NewRequest("GET", base+"/v1/openapi.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "elsewhere.example"
	if res, err := hc.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET /v1/openapi.json for another host: %s, want 421", res.Status)
	}

	key, err := os.ReadFile(filepath.Join(s.dataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := openapi.Operations()
	if err != nil {
		t.Fatal(err)
	}
	// {app} 1 is a valid SDKAppID that is never given (the server chooses
	// in 1400000000..1499999999): no request below changes anything.
	fill := strings.NewReplacer("{app}", "1", "{kid}", "nokid", "{id}", "0123456789abcdef0123456789abcdef")
	for _, op := range ops {
		if op.Path == "/metrics" {
			continue // served here or on --metrics-listen: adminserver's test covers it
		}
		req, err := http.NewRequest(op.Method, base+fill.Replace(op.Path), nil)
		if err != nil {
			t.Fatal(err)
		}
		admin := strings.HasPrefix(op.Path, "/v1/admin/")
		if admin {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		notRouted := res.StatusCode == http.StatusMethodNotAllowed ||
			res.StatusCode == http.StatusNotFound && (!admin && strings.Contains(string(b), "404 page not found") || bytes.Contains(b, []byte(`"not_found"`)))
		if notRouted {
			t.Errorf("%s %s: %s %s", op.Method, op.Path, res.Status, b)
		}
	}
}
