package compliance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Child processes: the test binary re-executed with helperEnv set runs
// TestHelperProcess in one of these modes, prints one JSON line on stdout
// and stays alive until its stdin is closed, so that the parent can
// inspect it from outside.
const (
	helperEnv = "LETHE_COMPLIANCE_HELPER"

	modeLockdown    = "lockdown"    // LockDownWorker, then probes from several threads
	modeUnenforced  = "unenforced"  // LockDownWorker with a probe that cannot be denied
	modeNonDumpable = "nondumpable" // prctl(PR_SET_DUMPABLE, 0)
	modeWriter      = "writer"      // holds files open for writing
	modeSetuid      = "setuid"      // drops to uid/gid 65534
	modeDrop        = "drop"        // dropPrivileges to 65534, maybe keeping CAP_IPC_LOCK
	modeMlock       = "mlock"       // LockDownWorker with Mlock, then allocates
	modeControl     = "control"     // LockDownControl, then writes inside and outside, and an exec
	modeSeccomp     = "seccomp"     // LockDownWorker, LockDownSyscalls, then what still works
	modeParent      = "parent"      // starts a child in modeIdle that shares its stdin
	modeIdle        = "idle"        // nothing

	envProbeDir    = "LETHE_PROBE_DIR"     // lockdown: extra probe dir
	envExisting    = "LETHE_EXISTING"      // lockdown: an existing regular file
	envMissingDir  = "LETHE_MISSING_DIR"   // unenforced: a dir that does not exist
	envDegraded    = "LETHE_DEGRADED"      // unenforced: with AllowUnenforced
	envWriteFile   = "LETHE_WRITE_FILE"    // writer: opened O_WRONLY|O_CREATE
	envRDWRFile    = "LETHE_RDWR_FILE"     // writer: opened O_RDWR|O_CREATE
	envReadFile    = "LETHE_READ_FILE"     // writer: opened O_RDONLY
	envSetDumpable = "LETHE_SET_DUMPABLE"  // setuid: prctl(PR_SET_DUMPABLE, 1) afterwards
	envSavedRoot   = "LETHE_SAVED_ROOT"    // setuid: keep saved uid 0
	envDataDir     = "LETHE_DATA_DIR"      // control: the data dir
	envOutsideDir  = "LETHE_OUTSIDE_DIR"   // control: a writable dir outside it
	envMlock       = "LETHE_MLOCK"         // seccomp: ask for mlockall too
	envSecretDir   = "LETHE_SECRET_DIR"    // lockdown: a dir holding admin.key, which must not be readable
	envKeepIPCLock = "LETHE_KEEP_IPC_LOCK" // drop: keep CAP_IPC_LOCK
	envNoMemlock   = "LETHE_NO_MEMLOCK"    // mlock: give up CAP_IPC_LOCK and CAP_SYS_RESOURCE first
	nobody         = 65534
)

// threadProbe is what one locked OS thread of a locked-down child saw.
type threadProbe struct {
	Tid             int    `json:"tid"`
	Started         string `json:"started"` // "before" or "after" LockDownWorker
	CreateErrno     string `json:"createErrno"`
	WriteExistErrno string `json:"writeExistErrno"`
	ReadExistErrno  string `json:"readExistErrno"`
	NoNewPrivs      bool   `json:"noNewPrivs"`
}

// lockdownOut is the JSON line of modeLockdown and modeUnenforced.
type lockdownOut struct {
	Report    Report        `json:"report"`
	Err       string        `json:"err,omitempty"`
	Degraded  Report        `json:"degraded"`
	DegErr    string        `json:"degErr,omitempty"`
	Threads   []threadProbe `json:"threads,omitempty"`
	DevNullOK bool          `json:"devNullOK"`
	UDPOK     bool          `json:"udpOK"`
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("only runs as a child process of this package's tests")
	}
	var out any
	var err error
	switch mode {
	case modeLockdown:
		out = helperLockdown()
	case modeUnenforced:
		out = helperUnenforced()
	case modeNonDumpable:
		err = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	case modeWriter:
		err = helperWriter()
	case modeSetuid:
		err = helperSetuid()
	case modeDrop:
		out = helperDrop()
	case modeMlock:
		out = helperMlock()
	case modeControl:
		out = helperControl()
	case modeSeccomp:
		out = helperSeccomp()
	case modeParent:
		err = helperParent()
	case modeIdle:
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if out == nil {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		out = map[string]string{"err": msg}
	}
	line, _ := json.Marshal(out)
	os.Stdout.Write(append(line, '\n'))
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	os.Exit(0)
}

// helperParent starts a child of its own, which exits with the end of the
// stdin it shares.
func helperParent() error {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+modeIdle)
	cmd.Stdin = os.Stdin
	return cmd.Start()
}

func helperLockdown() lockdownOut {
	var o lockdownOut
	existing := os.Getenv(envExisting)

	// Threads that exist before the lock-down, each locked to its own OS
	// thread and parked until the lock-down is done.
	const before, after = 4, 2
	var wg sync.WaitGroup
	results := make(chan threadProbe, before+after)
	start := make(chan struct{})
	ready := make(chan struct{}, before)
	probeThread := func(started string, gate <-chan struct{}, ready chan<- struct{}) {
		defer wg.Done()
		runtime.LockOSThread() // never unlocked: the thread dies with us
		if ready != nil {
			ready <- struct{}{}
		}
		<-gate
		results <- probeOnThisThread(started, existing)
	}
	hold := make(chan struct{})
	for range before {
		wg.Add(1)
		go probeThread("before", start, ready)
	}
	for range before {
		<-ready
	}

	secret := os.Getenv(envSecretDir)
	r, err := LockDownWorker(LockOptions{ExtraProbeDirs: []string{os.Getenv(envProbeDir)},
		ReadProbes: []string{secret, filepath.Join(secret, "admin.key")}, User: nobodyIfRoot()})
	o.Report = r
	if err != nil {
		o.Err = err.Error()
	}

	// Threads started after, while the first ones still hold theirs.
	for range after {
		wg.Add(1)
		go probeThread("after", hold, nil)
	}
	close(hold)
	close(start)
	wg.Wait()
	close(results)
	for p := range results {
		o.Threads = append(o.Threads, p)
	}

	// The worker still needs /dev/null and the network.
	if f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		o.DevNullOK = werr == nil
		f.Close()
	}
	if c, err := net.ListenPacket("udp4", "127.0.0.1:0"); err == nil {
		o.UDPOK = true
		c.Close()
	}
	return o
}

func probeOnThisThread(started, existing string) threadProbe {
	p := threadProbe{Tid: unix.Gettid(), Started: started}
	pr, _ := probeCreate(os.TempDir())
	p.CreateErrno = pr.Errno
	if f, err := os.OpenFile(existing, os.O_WRONLY, 0); err != nil {
		p.WriteExistErrno = errnoName(err)
	} else {
		f.Close()
	}
	if f, err := os.Open(existing); err != nil {
		p.ReadExistErrno = errnoName(err)
	} else {
		f.Close()
	}
	if st, err := os.ReadFile("/proc/thread-self/status"); err == nil {
		p.NoNewPrivs, _ = parseNoNewPrivs(st)
	}
	return p
}

func helperUnenforced() lockdownOut {
	var o lockdownOut
	extra := []string{os.Getenv(envMissingDir)}
	degraded := os.Getenv(envDegraded) != ""
	r, err := LockDownWorker(LockOptions{ExtraProbeDirs: extra, AllowUnenforced: degraded, User: nobodyIfRoot()})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if degraded {
		o.Degraded, o.DegErr = r, msg
	} else {
		o.Report, o.Err = r, msg
	}
	return o
}

func helperWriter() error {
	for _, f := range []struct {
		env  string
		flag int
	}{
		{envWriteFile, os.O_WRONLY | os.O_CREATE},
		{envRDWRFile, os.O_RDWR | os.O_CREATE},
		{envReadFile, os.O_RDONLY},
	} {
		if _, err := os.OpenFile(os.Getenv(f.env), f.flag, 0o600); err != nil {
			return err
		}
	}
	if _, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
		return err
	}
	if _, _, err := os.Pipe(); err != nil {
		return err
	}
	return nil
}

func helperSetuid() error {
	saved := nobody
	if os.Getenv(envSavedRoot) != "" {
		saved = 0
	}
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setresgid(nobody, nobody, nobody); err != nil {
		return err
	}
	if err := syscall.Setresuid(nobody, nobody, saved); err != nil {
		return err
	}
	if os.Getenv(envSetDumpable) != "" {
		return unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
	}
	return nil
}

// child is a running helper process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	line   []byte // its JSON line
	stderr *bytes.Buffer
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// startHelper runs the test binary in mode and waits for its JSON line. The
// child is stopped when the test ends.
func startHelper(t *testing.T, mode string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	return startChild(t, cmd, true)
}

// startChild starts cmd; if jsonLine, it waits for one line on its stdout.
func startChild(t *testing.T, cmd *exec.Cmd, jsonLine bool) *child {
	t.Helper()
	c := &child{cmd: cmd, stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop(t) })
	if !jsonLine {
		return c
	}
	type res struct {
		line []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		ch <- res{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("helper: reading its output: %v; stderr: %s", r.err, c.stderr)
		}
		c.line = r.line
	case <-time.After(30 * time.Second):
		t.Fatalf("helper: no output within 30s; stderr: %s", c.stderr)
	}
	return c
}

func (c *child) stop(t *testing.T) {
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
		t.Errorf("child %d did not exit within 10s; killed", c.pid())
	}
}

// decode parses the child's JSON line into v and fails on a helper error.
func (c *child) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(c.line, v); err != nil {
		t.Fatalf("helper output %q: %v", c.line, err)
	}
}

// wantNoHelperErr fails if a simple helper reported an error.
func (c *child) wantNoHelperErr(t *testing.T) {
	t.Helper()
	var m map[string]string
	c.decode(t, &m)
	if m["err"] != "" {
		t.Fatalf("helper failed: %s", m["err"])
	}
}

// nobodyIfRoot is the user a worker started as root becomes in these
// tests; nil for any other user, who keeps its ids.
func nobodyIfRoot() *User {
	if os.Geteuid() == 0 {
		return &User{UID: nobody, GID: nobody}
	}
	return nil
}

// requireLandlock skips when the kernel has no Landlock.
func requireLandlock(t *testing.T) int {
	t.Helper()
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		t.Skipf("Landlock is not available on this kernel (ABI %d, %v): lock-down cannot be tested here", abi, err)
	}
	return abi
}

// requireRoot skips when not root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (to change uid in a child and to read any process's /proc)")
	}
}

// sleeper starts `sleep 60`, stopped by a kill at the end of the test.
func sleeper(t *testing.T) int {
	t.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1) on this machine")
	}
	cmd := exec.Command(path, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}
