package compliance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
)

// testKey stands for the admin or auditor key of a test.
const testKey = "dGVzdC1hdWRpdG9yLWtleS1mb3ItdGhlLWF0dGVzdGF0aW9u"

// A full attestation of the kind that leaks where things are.
func revealing() Attestation {
	no := false
	return Attestation{
		Version: "v", Binary: BinaryInfo{Path: "/srv/secret-place/lethe", SHA256: "abc"},
		Kernel: KernelInfo{LandlockABI: 7}, Enforced: false,
		Findings: Findings{Problems: []string{"worker 0 (pid 4242): not enforced"}},
		Processes: []ProcessAttestation{
			{PID: 4241, Role: RoleControl, Enforced: true, SameBinary: true,
				Measured:   Measurement{NoNewPrivs: true, Dumpable: &no, WritableFiles: []string{"/srv/data-dir/lethe.db", "/var/log/lethe.out"}},
				SelfReport: &Report{LandlockApplied: true, Probes: []Probe{{Path: "/tmp", Denied: true, Errno: "EACCES"}}},
				Findings:   Findings{Notes: []string{"holds a file open for writing outside its data dir: /var/log/lethe.out"}}},
			{PID: 4242, Role: RoleWorker, Index: 0, SameBinary: true,
				Measured:   Measurement{SeccompMode: 2, NoNewPrivs: true, Dumpable: &no, CoreLimitHard: 1},
				SelfReport: &Report{LandlockApplied: true, Probes: []Probe{{Path: "/tmp"}}},
				Findings:   Findings{Problems: []string{"core limit is 0/1, want 0/0"}}},
		},
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	s := revealing().Summary()
	b, _ := json.Marshal(s)
	for _, secret := range []string{"4241", "4242", "/srv", "/var/log", "lethe.db", "pid"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("summary shows %q: %s", secret, b)
		}
	}
	want := []ProcessSummary{
		{Role: RoleControl, Enforced: true, Landlock: true, NoNewPrivs: true, NotDumpable: true, NoCoreDumps: true, SameBinary: true},
		// The worker's probe did not get EACCES: Landlock is not shown in force.
		{Role: RoleWorker, Seccomp: true, NoNewPrivs: true, NotDumpable: true, SameBinary: true},
	}
	if len(s.Processes) != 2 || s.Processes[0] != want[0] || s.Processes[1] != want[1] {
		t.Errorf("processes %+v\nwant %+v", s.Processes, want)
	}
	if s.Enforced || s.Problems != 2 || s.Notes != 1 || s.BinarySHA256 != "abc" || s.LandlockABI != 7 || s.Detail == "" {
		t.Errorf("summary %s", b)
	}
}

// The public summary for anyone, the full attestation for a key, 401 for
// a wrong one.
func TestAttestationAccess(t *testing.T) {
	t.Parallel()
	self, _ := json.Marshal(Report{Role: RoleControl})
	src := fakeSource{procs: []ProcessInfo{{PID: os.Getpid(), Role: RoleControl, Report: self}}}
	srv := httptest.NewServer(AttestationHandler(src, []byte("  "+testKey+"\n"), []byte("second-key-0123456789")))
	defer srv.Close()
	get := func(auth ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL, nil)
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	pid := `"pid": ` + strconv.Itoa(os.Getpid())

	res, body := get()
	var s Summary
	if err := json.Unmarshal([]byte(body), &s); err != nil || res.StatusCode != 200 || s.Detail != SummaryDetail || len(s.Processes) != 1 {
		t.Fatalf("no credentials: %d %v %s", res.StatusCode, err, body)
	}
	if strings.Contains(body, pid) || strings.Contains(body, `"path"`) {
		t.Errorf("the summary shows a pid or a path: %s", body)
	}
	if res.Header.Get("Vary") != "Authorization" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}

	for _, key := range []string{testKey, "second-key-0123456789"} {
		for _, scheme := range []string{"Bearer ", "bearer "} {
			res, body := get(scheme + key)
			if res.StatusCode != 200 || !strings.Contains(body, pid) || !strings.Contains(body, `"binary"`) {
				t.Errorf("%s%.6s...: %d, want the full attestation: %.200s", scheme, key, res.StatusCode, body)
			}
		}
	}

	for _, bad := range [][]string{{"Bearer wrong"}, {"Bearer " + testKey + "x"}, {"Bearer  " + testKey}, {testKey}, {"Basic " + testKey},
		{"Bearer "}, {"Bearer " + testKey, "Bearer " + testKey}, {"Bearer " + strings.Repeat("k", 2000)}} {
		res, body := get(bad...)
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%.20q: %d, want 401", bad, res.StatusCode)
		}
		if strings.Contains(body, pid) || strings.Contains(body, testKey) {
			t.Errorf("%.20q: 401 body %q", bad, body)
		}
	}

	// Without keys, nobody reads the full attestation.
	open := httptest.NewServer(AttestationHandler(src))
	defer open.Close()
	req, _ := http.NewRequest("GET", open.URL, nil)
	req.Header.Set("Authorization", "Bearer ")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("no keys, empty bearer: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}
