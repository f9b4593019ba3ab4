package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/store"
	"golang.org/x/sys/unix"
)

// attestation fetches the server's full attestation, with the auditor key
// of its data dir.
func (s *server) attestation(t *testing.T) compliance.Attestation {
	t.Helper()
	base := s.httpBase()
	key, err := os.ReadFile(filepath.Join(s.dataDir, "auditor.key"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", base+"/v1/compliance/attestation", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	res, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("attestation: HTTP %d", res.StatusCode)
	}
	var a compliance.Attestation
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

// process finds the attested process of role (the first one).
func process(t *testing.T, a compliance.Attestation, role string) compliance.ProcessAttestation {
	t.Helper()
	for _, p := range a.Processes {
		if p.Role == role {
			return p
		}
	}
	t.Fatalf("no %s in the attestation", role)
	return compliance.ProcessAttestation{}
}

// While it forwards media, the worker can read nothing of the data dir:
// its own probe, run before it gave up root, found the data dir, admin.key
// and lethe.db closed to it by Landlock; from outside, /proc shows it runs
// as nobody with no capability at all, and a process with exactly those
// credentials (and no Landlock) cannot open the store's files either.
func TestWorkerCannotReadTheStore(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--mlock=false") // no CAP_IPC_LOCK: nothing at all
	a := s.join(t, "alice", 1, "")
	a.publishAV(t, false, client.SourceOptions{})
	b := s.join(t, "bob", 1, "")
	b.firstVideo(t)

	att := s.attestation(t)
	w := process(t, att, compliance.RoleWorker)
	if !w.Enforced || !att.Enforced {
		t.Fatalf("attestation not enforced: %q %q", att.Problems, w.Problems)
	}
	if pids := s.workerPIDs(); !slices.Equal(pids, []int{w.PID}) || workerByIndex(t, s, 0) != w.PID {
		t.Fatalf("attested worker %d, running %v", w.PID, pids)
	}
	r := w.SelfReport
	adminKey, db := filepath.Join(s.dataDir, store.AdminKeyFile), filepath.Join(s.dataDir, store.DBFile)
	probed := map[string]string{}
	for _, p := range r.ReadProbes {
		probed[p.Path] = p.Errno
	}
	for _, path := range []string{s.dataDir, adminKey, db, "/", "/proc/self/status"} {
		if probed[path] != "EACCES" {
			t.Errorf("the worker's read probe of %s: %q, want EACCES (probes %v)", path, probed[path], probed)
		}
	}
	if !r.LandlockSealed {
		t.Error("the worker's filesystem is not sealed")
	}

	// From outside: whom it runs as, every thread.
	creds, err := compliance.Credentials(w.PID)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Caps() != 0 || creds.MixedThreads {
		t.Errorf("worker holds capabilities %s (mixed threads %v)", creds.Caps(), creds.MixedThreads)
	}
	if os.Geteuid() != 0 {
		return // as another user, serve keeps its own ids for the workers
	}
	nobody := [4]int{65534, 65534, 65534, 65534}
	if creds.UIDs != nobody || creds.GIDs != nobody || len(creds.Groups) != 0 || creds.CapBnd != 0 {
		t.Errorf("worker credentials %+v, want nobody, no group, empty bounding set", creds)
	}
	// The same credentials, without Landlock: the data dir is root's, mode
	// 0700, so its files are out of reach all the same.
	for _, path := range []string{adminKey, db} {
		cat := exec.Command("setpriv", "--reuid", strconv.Itoa(creds.UIDs[0]), "--regid", strconv.Itoa(creds.GIDs[0]),
			"--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "cat", path)
		out, err := cat.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("cat %s as the worker's user: %v %q; want permission denied", path, err, out)
		}
	}

	// The control process filters system calls too, exec excepted.
	c := process(t, att, compliance.RoleControl)
	if c.Measured.SeccompMode != 2 || c.SelfReport.Seccomp == nil ||
		!slices.Contains(c.SelfReport.Seccomp.Denied, "memfd_create") || slices.Contains(c.SelfReport.Seccomp.Denied, "execve") {
		t.Errorf("control seccomp: mode %d, %+v", c.Measured.SeccompMode, c.SelfReport.Seccomp)
	}
}

// By default a worker's memory is locked, and stays locked while it
// forwards media and its heap grows; the banner and the attestation say so.
func TestWorkerMemoryLocked(t *testing.T) {
	leakCheck(t)
	if os.Geteuid() != 0 {
		t.Skip("as another user, RLIMIT_MEMLOCK decides (here: the compliance package's tests)")
	}
	s := startServer(t)
	if !strings.Contains(s.stdout.String(), "memory locked)") {
		t.Errorf("banner does not say the memory is locked:\n%s", s.stdout.String())
	}
	a := s.join(t, "alice", 1, "")
	a.publishAV(t, false, client.SourceOptions{})
	var subs []*participant
	for i := range 3 {
		subs = append(subs, s.join(t, fmt.Sprintf("sub%d", i), 1, ""))
	}
	video := subs[0].firstVideo(t)
	time.Sleep(2 * time.Second)
	if video.Stats().Packets == 0 {
		t.Fatal("no media")
	}
	w := process(t, s.attestation(t), compliance.RoleWorker)
	m := w.SelfReport.Mlock
	if !w.Enforced || m == nil || !m.Locked || w.Measured.VmLckKB == 0 {
		t.Fatalf("worker memory: enforced %v, %+v, VmLck %d KiB; problems %q", w.Enforced, m, w.Measured.VmLckKB, w.Problems)
	}
	// Locked through the one capability it keeps, or with none where the
	// limit could be raised.
	if c := w.Measured.Creds; c == nil || c.Caps()&^(1<<14) != 0 || (c.Caps() != 0) != m.WithCapability {
		t.Errorf("worker capabilities %+v with mlock %+v", c, m)
	}
	if strings.Contains(s.stderr.String(), "media worker exited") {
		t.Errorf("a worker exited:\n%s", s.stderr.String())
	}
}

// A worker that dumps every goroutine (SIGQUIT, while it forwards media)
// leaves one line in the log, with function names only.
func TestWorkerCrashOutput(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	a := s.join(t, "alice", 1, "")
	a.publishAV(t, false, client.SourceOptions{})
	b := s.join(t, "bob", 1, "")
	b.firstVideo(t)
	pid := workerByIndex(t, s, 0)
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.stderr.String(), "media worker crashed") {
		if time.Now().After(deadline) {
			t.Fatalf("no crash line:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for { // the replacement, so that the crash is over
		if pids := s.workerPIDs(); len(pids) == 1 && pids[0] != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no replacement worker")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	out := s.stderr.String()
	crashed := regexp.MustCompile(`(?m)^.*msg="media worker crashed".*$`).FindAllString(out, -1)
	if len(crashed) != 1 || !strings.Contains(crashed[0], `reason="SIGQUIT: quit"`) || !strings.Contains(crashed[0], "stack=") {
		t.Errorf("crash lines: %q", crashed)
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`goroutine \d`), regexp.MustCompile(`0x[0-9a-f]`), regexp.MustCompile(`PC=|\brip\b|\brax\b|fp=|\.go:\d`),
	} {
		if m := bad.FindString(out); m != "" {
			t.Errorf("the log holds %q of the worker's dump:\n%s", m, out)
		}
	}
	t.Logf("%s", crashed)
}

// reaperHelperEnv makes the test binary a child subreaper that runs lethe
// serve (the binary named in it, with a data dir in reaperDataEnv), so
// that it inherits and reaps the media worker when serve dies, and can
// tell how the worker ended.
const (
	reaperHelperEnv = "LETHE_E2E_REAPER"
	reaperDataEnv   = "LETHE_E2E_REAPER_DATA"
)

// runReaperHelper prints "worker <pid>" once serve is up, SIGKILLs serve
// when a line arrives on stdin, and prints "worker ended: <status>".
func runReaperHelper() int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Println("error", err)
		return 1
	}
	cmd := exec.Command(os.Getenv(reaperHelperEnv), "serve", "--data-dir", os.Getenv(reaperDataEnv),
		"--listen", "127.0.0.1:0", "--udp-port", "0", "--turn-port", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	worker := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var i, pid int
			if n, _ := fmt.Sscanf(sc.Text(), "  worker %d:   pid %d,", &i, &pid); n == 2 {
				worker <- pid
			}
		}
	}()
	var pid int
	select {
	case pid = <-worker:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		fmt.Println("error: serve did not start")
		return 1
	}
	fmt.Println("worker", pid)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = cmd.Process.Kill()
	ended := make(chan string, 1)
	go func() {
		for {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, 0, nil)
			if err != nil {
				ended <- err.Error()
				return
			}
			if got == pid {
				switch {
				case ws.Signaled():
					ended <- "signal " + ws.Signal().String()
				default:
					ended <- fmt.Sprintf("exit %d", ws.ExitStatus())
				}
				return
			}
		}
	}()
	select {
	case e := <-ended:
		fmt.Println("worker ended:", e)
	case <-time.After(10 * time.Second):
		fmt.Println("worker ended: not within 10s")
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return 0
}

// When serve dies without a word (SIGKILL), its workers are killed with it
// by their parent-death signal — which the kernel clears when a worker
// changes its user, and the lock-down sets again on every thread.
func TestWorkerDiesWithServe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("workers change their user only under a root serve")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), reaperHelperEnv+"="+lethePath, reaperDataEnv+"="+filepath.Join(t.TempDir(), "data"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("reaper helper: no answer")
			return ""
		}
	}
	if l := next(); !strings.HasPrefix(l, "worker ") {
		t.Fatalf("reaper helper: %q", l)
	}
	if _, err := io.WriteString(stdin, "kill\n"); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "worker ended: signal killed" {
		t.Errorf("after serve was killed: %q, want the worker killed by its parent-death signal (SIGKILL)", l)
	}
}
