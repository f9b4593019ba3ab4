package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/store"
)

// forbiddenSymbol matches symbols of profiling and heap-dump code: package
// net/http/pprof or runtime/pprof, and debug.WriteHeapDump with the
// runtime function behind it. internal/runtime/pprof/label (goroutine
// labels, part of every binary) does not match.
//
// expvar is not among them: client_golang links it (metrics), and it
// registers /debug/vars on http.DefaultServeMux, which no server of ours
// serves. That is checked where it matters, on the running server's
// listeners (debugPaths).
var forbiddenSymbol = regexp.MustCompile(`(^|[\s*(\[,:])(net/http/pprof|runtime/pprof)\.|runtime/debug\.WriteHeapDump|runtime\.writeHeapDump`)

// forbiddenImports are the packages that bring those symbols.
var forbiddenImports = []string{"net/http/pprof", "runtime/pprof"}

// debugPaths are the debug endpoints net/http/pprof and expvar put on
// http.DefaultServeMux; every listener of serve must answer 404 to them.
var debugPaths = []string{"/debug/vars", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"}

// openDebugPaths lists the debug endpoints that base (http://host:port)
// answers with anything but 404, with the admin key and without.
func openDebugPaths(t *testing.T, base, adminKey string) []string {
	t.Helper()
	keys := []string{""}
	if adminKey != "" {
		keys = append(keys, adminKey)
	}
	var open []string
	for _, path := range debugPaths {
		for _, key := range keys {
			req, err := http.NewRequest("GET", base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				open = append(open, fmt.Sprintf("%s%s: %v", base, path, err))
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				open = append(open, fmt.Sprintf("%s%s (key %t): %d", base, path, key != "", resp.StatusCode))
			}
		}
	}
	return open
}

// tcpListeners lists the loopback addresses pid listens on over TCP
// (IPv4), from its descriptors and /proc/<pid>/net/tcp.
func tcpListeners(pid int) ([]string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		// sl local_address rem_address st ... inode (the tenth field)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
			continue
		}
		hostPort := strings.Split(f[1], ":")
		ip, err1 := strconv.ParseUint(hostPort[0], 16, 32)
		port, err2 := strconv.ParseUint(hostPort[1], 16, 16)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("net/tcp: %q", f[1])
		}
		// The kernel prints the address's four bytes as a native-order
		// number.
		a := binary.NativeEndian.AppendUint32(nil, uint32(ip))
		out = append(out, fmt.Sprintf("%d.%d.%d.%d:%d", a[0], a[1], a[2], a[3], port))
	}
	return out, nil
}

// goBuild builds the package in dir (relative to it: pkg) into out.
func goBuild(t *testing.T, dir, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// badSymbols lists the forbidden symbols of the binary at path.
func badSymbols(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", path).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if forbiddenSymbol.MatchString(sc.Text()) {
			bad = append(bad, strings.TrimSpace(sc.Text()))
		}
	}
	return bad
}

// TestLetheBinary builds the real binary once and checks it.
func TestLetheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	lethe := filepath.Join(dir, "lethe")
	goBuild(t, ".", ".", lethe)

	t.Run("no profiling or heap-dump code", func(t *testing.T) {
		if bad := badSymbols(t, lethe); len(bad) > 0 {
			t.Errorf("the binary holds %d profiling/heap-dump symbols, e.g. %q", len(bad), bad[:min(5, len(bad))])
		}
		// Who imports them, if anyone: named for whoever has to fix it.
		out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for line := range strings.SplitSeq(string(out), "\n") {
			f := strings.Fields(line)
			for _, imp := range f[min(1, len(f)):] {
				for _, bad := range forbiddenImports {
					if imp == bad {
						t.Errorf("%s imports %s", f[0], bad)
					}
				}
			}
		}
	})

	// Positive control: the symbol check does catch each of them.
	t.Run("positive control", func(t *testing.T) {
		src := t.TempDir()
		files := map[string]string{
			"go.mod": "module leaky\n\ngo 1.26\n",
			"main.go": `package main

import (
	_ "expvar"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/debug"
	"runtime/pprof"
)

func main() {
	if len(os.Args) > 9 {
		debug.WriteHeapDump(1)
		_ = pprof.StartCPUProfile(os.Stdout)
	}
	// Serve http.DefaultServeMux, where expvar and pprof put their
	// endpoints: the back door the running-server check looks for.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	_ = http.Serve(ln, nil)
}
`,
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		bin := filepath.Join(src, "leaky")
		goBuild(t, src, ".", bin)
		joined := strings.Join(badSymbols(t, bin), "\n")
		for _, want := range []string{"net/http/pprof.", "runtime/pprof.", "WriteHeapDump"} {
			if !strings.Contains(joined, want) {
				t.Errorf("the check misses %s", want)
			}
		}

		// The endpoint check catches a server of http.DefaultServeMux.
		cmd := exec.Command(bin)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		addr, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("leaky server: %v", err)
		}
		if open := openDebugPaths(t, "http://"+strings.TrimSpace(addr), ""); len(open) != len(debugPaths) {
			t.Errorf("the endpoint check finds %d of the leaky server's %d debug endpoints: %q", len(open), len(debugPaths), open)
		}
	})

	// expvar is linked (client_golang) and registers /debug/vars on
	// http.DefaultServeMux: no listener of serve may serve it, nor pprof's.
	t.Run("no debug endpoint on any listener", func(t *testing.T) {
		requireLockdownHost(t)
		dataDir := filepath.Join(t.TempDir(), "data")
		srv := startLethe(t, lethe, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--udp-port", "0", "--turn-port", "0",
			"--metrics-listen", "127.0.0.1:0")
		metricsAddr := srv.metricsAddr(t)
		adminKey, err := os.ReadFile(filepath.Join(dataDir, "admin.key"))
		if err != nil {
			t.Fatal(err)
		}
		key := strings.TrimSpace(string(adminKey))
		known := []string{strings.TrimPrefix(srv.base, "http://"), metricsAddr}
		// Every TCP listener of the control process, where /proc shows
		// them, so that a listener added later is checked too.
		listeners, err := tcpListeners(srv.cmd.Process.Pid)
		if err != nil {
			t.Logf("listeners from /proc: %v; checking the known ones", err)
			listeners = known
		}
		for _, k := range known {
			if !slices.Contains(listeners, k) {
				t.Errorf("/proc shows listeners %q, not %s", listeners, k)
			}
		}
		for _, addr := range listeners {
			if open := openDebugPaths(t, "http://"+addr, key); len(open) > 0 {
				t.Errorf("debug endpoints answered: %q", open)
			}
		}
		t.Logf("listeners checked: %q", listeners)
		// The metrics listener does serve its one path.
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/metrics on --metrics-listen: %d", resp.StatusCode)
		}
	})

	t.Run("serve is locked down and attested", func(t *testing.T) {
		requireLockdownHost(t)
		dataDir := filepath.Join(t.TempDir(), "data")
		args := []string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--udp-port", "0", "--turn-port", "0"}
		srv := startLethe(t, lethe, args...) // --mlock is the default
		keyFile := filepath.Join(dataDir, "auditor.key")

		var out, errOut bytes.Buffer
		err := complianceStatusCommand(context.Background(), []string{"--server", srv.base, "--key-file", keyFile}, &out, &errOut)
		t.Logf("compliance status:\n%s", out.String())
		if err != nil {
			t.Fatalf("compliance status: %v\n%s", err, errOut.String())
		}
		for _, want := range []string{"VERDICT: ENFORCED", "control (pid", "worker 0 (pid", "seccomp mode 2", "read probes:", "sealed: from then on only",
			"still allowed as needed: execve", "capabilities: effective"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("summary lacks %q", want)
			}
		}
		if os.Geteuid() == 0 && !strings.Contains(out.String(), "every process re-measured from here, in agreement") {
			t.Errorf("the local cross-check did not cover every process")
		}

		out.Reset()
		if err := complianceStatusCommand(context.Background(), []string{"--server", srv.base, "--json", "--key-file", keyFile}, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		var a compliance.Attestation
		if err := json.Unmarshal(out.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if !a.Enforced || len(a.Processes) != 2 || a.Processes[0].PID != srv.cmd.Process.Pid {
			t.Fatalf("attestation: %s", out.String())
		}
		ctl, wk := a.Processes[0], a.Processes[1]
		if ctl.SelfReport == nil || ctl.SelfReport.Role != compliance.RoleControl || !ctl.SelfReport.LandlockApplied {
			t.Errorf("control self-report: %+v", ctl.SelfReport)
		}
		if wk.Measured.SeccompMode != 2 || wk.SelfReport == nil || wk.SelfReport.Seccomp == nil || len(wk.Measured.WritableFiles) != 0 {
			t.Errorf("worker: %+v", wk)
		}
		if ctl.Measured.SeccompMode != 2 || ctl.SelfReport.Seccomp == nil {
			t.Errorf("control seccomp: mode %d, %+v", ctl.Measured.SeccompMode, ctl.SelfReport.Seccomp)
		}
		if c := wk.Measured.Creds; c == nil || (os.Geteuid() == 0 && c.Root()) || c.Caps()&^(1<<14) != 0 || wk.SelfReport.Privileges == nil {
			t.Errorf("worker credentials: %+v, privileges %+v", c, wk.SelfReport.Privileges)
		}
		if os.Geteuid() == 0 && (wk.SelfReport.Mlock == nil || !wk.SelfReport.Mlock.Locked || wk.Measured.VmLckKB == 0) {
			t.Errorf("worker mlock: %+v, VmLck %d", wk.SelfReport.Mlock, wk.Measured.VmLckKB)
		}
		// Attesting again and again leaves the worker alone.
		for range 5 {
			out.Reset()
			if err := complianceStatusCommand(context.Background(), []string{"--server", srv.base, "--json", "--local=false", "--key-file", keyFile}, &out, &errOut); err != nil {
				t.Fatal(err)
			}
		}
		var again compliance.Attestation
		if err := json.Unmarshal(out.Bytes(), &again); err != nil || len(again.Processes) != 2 || again.Processes[1].PID != wk.PID {
			t.Errorf("after six attestations the worker changed: %s", out.String())
		}
		if strings.Contains(srv.stderr.String(), "media worker exited") {
			t.Errorf("a worker exited:\n%s", srv.stderr.String())
		}

		// The admin key reads it too.
		out.Reset()
		if err := complianceStatusCommand(context.Background(), []string{"--server", srv.base, "--json", "--local=false",
			"--key-file", filepath.Join(dataDir, "admin.key")}, &out, &errOut); err != nil {
			t.Fatalf("with the admin key: %v", err)
		}

		// Without a key (the default file is missing here): the public
		// summary, saying so, with the verdict and no pid.
		out.Reset()
		if err := complianceStatusCommand(context.Background(), []string{"--server", srv.base}, &out, &errOut); err != nil {
			t.Fatalf("summary: %v\n%s", err, out.String())
		}
		t.Logf("compliance status without a key:\n%s", out.String())
		for _, want := range []string{"SUMMARY ONLY", "--key-file", "worker 0: ENFORCED", "landlock yes, seccomp yes", "VERDICT: ENFORCED"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("summary lacks %q", want)
			}
		}
		if pid := strconv.Itoa(srv.cmd.Process.Pid); strings.Contains(out.String(), pid) || strings.Contains(out.String(), dataDir) {
			t.Errorf("the summary shows the pid or the data dir:\n%s", out.String())
		}

		// A wrong key is refused with a clear error.
		wrong := filepath.Join(t.TempDir(), "wrong.key")
		if err := os.WriteFile(wrong, []byte("not-the-key-of-this-server\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err = complianceStatusCommand(context.Background(), []string{"--server", srv.base, "--key-file", wrong}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "refused the key") {
			t.Errorf("wrong key: %v", err)
		}
	})
}

// requireLockdownHost skips where the kernel cannot lock serve down.
func requireLockdownHost(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err == nil && !strings.Contains(string(b), "landlock") {
		t.Skip("Landlock is not enabled on this kernel")
	}
}

// letheServer is a running `lethe serve`.
type letheServer struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	stderr  *syncBuf
	metrics chan string // --metrics-listen's address, from the banner
}

// metricsAddr is the address the banner gives for --metrics-listen.
func (s *letheServer) metricsAddr(t *testing.T) string {
	t.Helper()
	select {
	case a := <-s.metrics:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("serve printed no metrics address within 30s")
		return ""
	}
}

// syncBuf is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	bannerAddrRE    = regexp.MustCompile(`signaling:\s+ws://(\S+)/v1/signal`)
	bannerMetricsRE = regexp.MustCompile(`metrics:\s+http://(\S+)/metrics`)
)

func startLethe(t *testing.T, bin string, args ...string) *letheServer {
	t.Helper()
	s := &letheServer{cmd: exec.Command(bin, args...), stderr: &syncBuf{}, metrics: make(chan string, 1)}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		_, _ = io.Copy(s.stderr, stderrPipe)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
			if m := bannerMetricsRE.FindStringSubmatch(sc.Text()); m != nil {
				s.metrics <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
			t.Error("serve did not stop within 15s")
		}
		<-errDone
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatal("serve did not print its address within 30s")
	}
	return s
}

func TestComplianceStatusNotEnforced(t *testing.T) {
	t.Parallel()
	a := compliance.Attestation{Version: "x", Enforced: false, Findings: compliance.Findings{Problems: []string{"worker 0 (pid 1): not enforced"}},
		Processes: []compliance.ProcessAttestation{{PID: 1 << 30, Role: compliance.RoleWorker,
			Findings: compliance.Findings{Problems: []string{"seccomp mode 0, want 2 (filter)"}}}}}
	body, _ := json.Marshal(a)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != attestationPath {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := complianceStatusCommand(context.Background(), []string{"--server", srv.URL, "--key-file", testKeyFile(t)}, &out, &errOut)
	if !errors.Is(err, errNotEnforced) {
		t.Errorf("err = %v, want errNotEnforced", err)
	}
	for _, want := range []string{"VERDICT: NOT ENFORCED", "!! seccomp mode 0", "not visible from here"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestComplianceStatusErrors(t *testing.T) {
	t.Parallel()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer failing.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("{"))
	}))
	defer garbage.Close()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--server", "ftp://x"}, "want http(s)://host:port"},
		{[]string{"--server", "http://"}, "want http(s)://host:port"},
		{[]string{"--server", failing.URL, "--key-file", testKeyFile(t)}, "500"},
		{[]string{"--server", garbage.URL, "--key-file", testKeyFile(t)}, "decoding"},
		{[]string{"--server", garbage.URL}, "decoding"}, // the summary
		{[]string{"--server", failing.URL, "--key-file", filepath.Join(t.TempDir(), "missing")}, "--key-file"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		err := complianceStatusCommand(context.Background(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// testKeyFile writes a key file for compliance status.
func testKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auditor.key")
	if err := os.WriteFile(path, []byte("dGVzdC1rZXk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Without a key compliance status shows the public summary, sends no
// Authorization, and judges by its verdict.
func TestComplianceStatusSummary(t *testing.T) {
	t.Parallel()
	s := compliance.Summary{Version: "x", Enforced: false, Problems: 3, Detail: compliance.SummaryDetail,
		Processes: []compliance.ProcessSummary{{Role: compliance.RoleControl, Enforced: true, Landlock: true},
			{Role: compliance.RoleWorker, Index: 1, Seccomp: true}}}
	body, _ := json.Marshal(s)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != attestationPath || r.Header.Get("Authorization") != "" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := complianceStatusCommand(context.Background(), []string{"--server", srv.URL}, &out, &errOut)
	if !errors.Is(err, errNotEnforced) {
		t.Errorf("err = %v, want errNotEnforced", err)
	}
	for _, want := range []string{"SUMMARY ONLY: no key at " + defaultAuditorKeyFile, "control: ENFORCED", "worker 1: NOT ENFORCED",
		"landlock NO, seccomp yes", "3 problems", "VERDICT: NOT ENFORCED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	_ = complianceStatusCommand(context.Background(), []string{"--server", srv.URL, "--json"}, &out, &errOut)
	var got compliance.Summary
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Problems != 3 || len(got.Processes) != 2 {
		t.Errorf("--json: %v %s", err, out.String())
	}
}

func TestLookupUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want *compliance.User
		err  string
	}{
		{"nobody", &compliance.User{UID: 65534, GID: 65534}, ""},
		{"65534", &compliance.User{UID: 65534, GID: 65534}, ""},
		{"1234:5678", &compliance.User{UID: 1234, GID: 5678}, ""},
		{"4242", &compliance.User{UID: 4242, GID: 4242}, ""}, // no such user: the same number for both
		{"1:x", nil, "want name, uid or uid:gid"},
		{"no-such-user-lethe", nil, "unknown user"},
	}
	for _, tc := range tests {
		got, err := lookupUser(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("lookupUser(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || *got != *tc.want):
			t.Errorf("lookupUser(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// As root, workers become --worker-user (nobody by default) and never
// root; the worker is told whom, and which paths it must fail to read.
func TestWorkerUserFlag(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		l := lockdownFlags{workerUser: "nobody"}
		if err := l.resolve(); err == nil || !strings.Contains(err.Error(), "only root") {
			t.Errorf("--worker-user as another user: %v", err)
		}
		return
	}
	for _, bad := range []string{"root", "0", "65534:0"} {
		l := lockdownFlags{workerUser: bad}
		if err := l.resolve(); err == nil || !strings.Contains(err.Error(), "may not run as root") {
			t.Errorf("--worker-user %s: %v", bad, err)
		}
	}
	l := lockdownFlags{mlock: true}
	if err := l.resolve(); err != nil || l.user == nil || l.user.UID != 65534 {
		t.Fatalf("default worker user: %+v, %v", l.user, err)
	}
	args := strings.Join(l.workerArgs(store.Info{DataDir: "/d", AdminKeyPath: "/d/admin.key", DBPath: "/d/lethe.db"}), " ")
	if args != "--mlock=true --uid 65534 --gid 65534 --probe-read /d --probe-read /d/admin.key --probe-read /d/lethe.db" {
		t.Errorf("worker args: %s", args)
	}
}

// A worker whose memory is not locked is announced loudly in the banner.
func TestBannerMemoryNotLocked(t *testing.T) {
	t.Parallel()
	rep := func(m *compliance.MlockReport) json.RawMessage {
		b, _ := json.Marshal(compliance.Report{Enforced: true, LandlockABI: 7, Mlock: m,
			Privileges: &compliance.PrivilegeReport{Creds: compliance.Creds{UIDs: [4]int{65534, 65534, 65534, 65534}, GIDs: [4]int{65534, 65534, 65534, 65534}}}})
		return b
	}
	var out bytes.Buffer
	printBanner(&out, &serveConfig{dataDir: "/d"}, "127.0.0.1:1", store.Info{}, []control.Worker{
		{Index: 0, PID: 10, Report: rep(&compliance.MlockReport{Locked: true})},
		{Index: 1, PID: 11, Report: rep(&compliance.MlockReport{Reason: "RLIMIT_MEMLOCK is 8192 KiB: ..."})},
	})
	b := out.String()
	for _, want := range []string{"uid 65534 gid 65534, no capability", "worker 0:   pid 10", "memory locked)", "memory NOT locked)",
		"!!! WARNING: worker 1's media memory is NOT locked and could be swapped out: RLIMIT_MEMLOCK is 8192 KiB"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	if strings.Count(b, "!!! WARNING") != 1 {
		t.Errorf("banner:\n%s", b)
	}
}
