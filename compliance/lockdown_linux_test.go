package compliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLockDownWorker(t *testing.T) {
	abi := requireLandlock(t)
	t.Parallel()
	probeDir := t.TempDir()
	existing := filepath.Join(t.TempDir(), "existing")
	if err := os.WriteFile(existing, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := t.TempDir() // the data dir of a control process
	if err := os.WriteFile(filepath.Join(secret, "admin.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, modeLockdown, envProbeDir+"="+probeDir, envExisting+"="+existing, envSecretDir+"="+secret)
	var o lockdownOut
	c.decode(t, &o)
	js, _ := json.Marshal(o.Report)
	t.Logf("child report: %s", js)

	// What the child measured about itself.
	r := o.Report
	if o.Err != "" || !r.Enforced || len(r.Problems) != 0 {
		t.Fatalf("LockDownWorker: err=%q enforced=%v problems=%q", o.Err, r.Enforced, r.Problems)
	}
	if r.LandlockABI != abi || !r.LandlockApplied {
		t.Errorf("landlock: abi=%d applied=%v, want abi=%d applied", r.LandlockABI, r.LandlockApplied, abi)
	}
	if !r.NoNewPrivs || r.Dumpable || r.CoreLimitSoft != 0 || r.CoreLimitHard != 0 {
		t.Errorf("report: nnp=%v dumpable=%v core=%d/%d, want true false 0/0",
			r.NoNewPrivs, r.Dumpable, r.CoreLimitSoft, r.CoreLimitHard)
	}
	wantDirs := map[string]bool{filepath.Clean(os.TempDir()): false, probeDir: false, "/dev/shm": false}
	if wd, err := os.Getwd(); err == nil {
		wantDirs[wd] = false // the child inherits our working directory
	}
	if _, err := os.Stat("/dev/shm"); err != nil {
		delete(wantDirs, "/dev/shm")
	}
	for _, p := range r.Probes {
		if !p.Denied || p.Errno != "EACCES" {
			t.Errorf("probe %s: denied=%v errno=%q, want EACCES", p.Path, p.Denied, p.Errno)
		}
		if _, ok := wantDirs[p.Path]; ok {
			wantDirs[p.Path] = true
		}
	}
	for d, seen := range wantDirs {
		if !seen {
			t.Errorf("no probe of %s in %+v", d, r.Probes)
		}
	}
	if ents, _ := os.ReadDir(probeDir); len(ents) != 0 {
		t.Errorf("probe dir not empty: %v", ents)
	}
	// Reading: nothing but its own /proc entry, proven where it matters.
	wantReads := map[string]bool{"/": false, secret: false, filepath.Join(secret, "admin.key"): false}
	for _, p := range r.ReadProbes {
		if !p.Denied || p.Errno != "EACCES" {
			t.Errorf("read probe %s: denied=%v errno=%q, want EACCES", p.Path, p.Denied, p.Errno)
		}
		wantReads[p.Path] = true
	}
	for path, seen := range wantReads {
		if !seen {
			t.Errorf("no read probe of %s in %+v", path, r.ReadProbes)
		}
	}
	own := fmt.Sprintf("/proc/%d", c.pid())
	if len(r.LandlockRules) != 2 || r.LandlockRules[0].Path != own || !slices.Equal(r.LandlockRules[0].Access, []string{"read_file", "read_dir"}) ||
		r.LandlockRules[1].Path != os.DevNull {
		t.Errorf("rules: %+v, want read of %s and /dev/null only", r.LandlockRules, own)
	}

	// Privileges: as root, it became nobody with no capability at all.
	pr := r.Privileges
	if pr == nil {
		t.Fatal("no privilege report")
	}
	if os.Geteuid() == 0 {
		ids := [4]int{nobody, nobody, nobody, nobody}
		if pr.StartUID != 0 || pr.SwitchedTo == nil || pr.Creds.UIDs != ids || pr.Creds.GIDs != ids || len(pr.Creds.Groups) != 0 {
			t.Errorf("privileges: %+v, want uid/gid %d, no groups", pr, nobody)
		}
		if pr.Creds.CapBnd != 0 {
			t.Errorf("bounding set %s, want none", pr.Creds.CapBnd)
		}
	}
	if pr.Creds.Caps() != 0 || pr.Kept != 0 {
		t.Errorf("capabilities left: %s (kept %s)", pr.Creds.Caps(), pr.Kept)
	}

	// Every thread, whether it existed before the lock-down or not.
	tids := map[int]bool{}
	for _, th := range o.Threads {
		tids[th.Tid] = true
		if th.CreateErrno != "EACCES" || th.WriteExistErrno != "EACCES" || th.ReadExistErrno != "EACCES" || !th.NoNewPrivs {
			t.Errorf("thread %+v: want create, write and read denied with EACCES, no_new_privs", th)
		}
	}
	if len(o.Threads) != 6 || len(tids) != 6 {
		t.Errorf("probed %d threads with %d distinct tids, want 6 and 6: %+v", len(o.Threads), len(tids), o.Threads)
	}
	if !o.DevNullOK || !o.UDPOK {
		t.Errorf("after lock-down: /dev/null writable=%v, UDP socket=%v; the worker needs both", o.DevNullOK, o.UDPOK)
	}

	// The same, seen from outside.
	pid := c.pid()
	if files, err := WritableFiles(pid); err != nil || len(files) != 0 {
		t.Errorf("WritableFiles(child) = %q, %v; want none", files, err)
	}
	if nnp, err := NoNewPrivs(pid); err != nil || !nnp {
		t.Errorf("NoNewPrivs(child) = %v, %v; want true", nnp, err)
	}
	if d, err := Dumpable(pid); err != nil || d {
		t.Errorf("Dumpable(child) = %v, %v; want false", d, err)
	}
	if soft, hard, err := CoreLimit(pid); err != nil || soft != 0 || hard != 0 {
		t.Errorf("CoreLimit(child) = %d, %d, %v; want 0, 0", soft, hard, err)
	}
	creds, err := Credentials(pid)
	if err != nil || creds.MixedThreads || creds.Caps() != 0 || (os.Geteuid() == 0 && (creds.Root() || creds.CapBnd != 0)) {
		t.Errorf("Credentials(child) = %+v, %v; want no root, no capability", creds, err)
	}
}

func TestProbeRead(t *testing.T) {
	t.Parallel()
	// Not locked down: the open succeeds, and the probe counts as failed.
	dir := t.TempDir()
	if p := probeRead(dir); p.Passed() || p.Errno != "" || !strings.Contains(p.failure(), "not blocked") {
		t.Errorf("probeRead(readable) = %+v", p)
	}
	if p := probeRead(filepath.Join(dir, "missing")); p.Passed() || p.Errno != "ENOENT" || !strings.Contains(p.failure(), "ENOENT, want EACCES") {
		t.Errorf("probeRead(missing) = %+v", p)
	}
}

func TestLockDownWorkerNotEnforced(t *testing.T) {
	requireLandlock(t)
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	var o, deg lockdownOut
	startHelper(t, modeUnenforced, envMissingDir+"="+missing).decode(t, &o)
	startHelper(t, modeUnenforced, envMissingDir+"="+missing, envDegraded+"=1").decode(t, &deg)
	o.Degraded, o.DegErr = deg.Degraded, deg.DegErr

	// Strict: an error that names the failed probe.
	if !strings.Contains(o.Err, ErrNotEnforced.Error()) || !strings.Contains(o.Err, missing) || !strings.Contains(o.Err, "ENOENT") {
		t.Errorf("err = %q, want ErrNotEnforced naming %s and ENOENT", o.Err, missing)
	}
	if o.Report.Enforced || len(o.Report.Problems) != 1 {
		t.Errorf("report: enforced=%v problems=%q, want false and one problem", o.Report.Enforced, o.Report.Problems)
	}
	// Degraded mode: no error, the same failure as a warning.
	if o.DegErr != "" || o.Degraded.Enforced || len(o.Degraded.Problems) != 1 || !strings.Contains(o.Degraded.Problems[0], missing) {
		t.Errorf("AllowUnenforced: err=%q enforced=%v problems=%q", o.DegErr, o.Degraded.Enforced, o.Degraded.Problems)
	}
	// The measures themselves did take.
	if !o.Degraded.LandlockApplied || !o.Degraded.NoNewPrivs || o.Degraded.Dumpable {
		t.Errorf("degraded report: %+v", o.Degraded)
	}
}

func TestProbeCreate(t *testing.T) {
	t.Parallel()
	// Not locked down: the create succeeds, the file is removed, and the
	// probe counts as failed.
	dir := t.TempDir()
	p, err := probeCreate(dir)
	if err != nil || p.Denied || p.Errno != "" || p.Path != dir {
		t.Errorf("probeCreate(writable) = %+v, %v", p, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("probe file left behind: %v", ents)
	}
	p, err = probeCreate(filepath.Join(dir, "missing"))
	if err != nil || p.Denied || p.Errno != "ENOENT" {
		t.Errorf("probeCreate(missing) = %+v, %v", p, err)
	}
}

func TestProbeDirs(t *testing.T) {
	t.Parallel()
	extra := []string{os.TempDir() + "/", "/x/../y", "/y"}
	dirs := probeDirs(extra)
	seen := map[string]int{}
	for _, d := range dirs {
		seen[d]++
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("%s probed %d times", d, n)
		}
	}
	if seen[filepath.Clean(os.TempDir())] != 1 || seen["/y"] != 1 {
		t.Errorf("probeDirs(%q) = %q", extra, dirs)
	}
}

func TestErrnoName(t *testing.T) {
	t.Parallel()
	_, err := os.Open("/nonexistent/lethe")
	if got := errnoName(err); got != "ENOENT" {
		t.Errorf("errnoName(%v) = %q", err, got)
	}
	if got := errnoName(errors.New("boom")); got != "boom" {
		t.Errorf("errnoName(plain) = %q", got)
	}
}

// Memory is locked where that is safe, and a worker whose memory grows
// afterwards still allocates: under MCL_FUTURE every new mapping counts,
// so the lock holds through an unlimited RLIMIT_MEMLOCK or, where that
// cannot be raised, CAP_IPC_LOCK, the one capability a worker then keeps.
func TestLockDownWorkerMlock(t *testing.T) {
	requireLandlock(t)
	requireRoot(t) // to switch users
	t.Parallel()
	c := startHelper(t, modeMlock)
	var o mlockOut
	c.decode(t, &o)
	r := o.Report
	js, _ := json.Marshal(r.Mlock)
	if o.Err != "" || !r.Enforced {
		t.Fatalf("lock-down: %q %q", o.Err, r.Problems)
	}
	m := r.Mlock
	if m == nil || !m.Locked || m.Reason != "" || o.LockedBeforeKB == 0 || o.LockedAfterKB == 0 {
		t.Fatalf("mlock: %s, VmLck %d KiB before allocating, %d after", js, o.LockedBeforeKB, o.LockedAfterKB)
	}
	if !o.AllocOK {
		t.Error("allocating 128 MiB after mlockall failed")
	}
	caps := r.Privileges.Creds.Caps()
	switch {
	case m.WithCapability:
		if r.Privileges.Kept != 1<<capIPCLock || caps != 1<<capIPCLock || r.Privileges.KeptWhy == "" {
			t.Errorf("locked with CAP_IPC_LOCK: kept %s (%q), holds %s; want cap_ipc_lock only", r.Privileges.Kept, r.Privileges.KeptWhy, caps)
		}
	case m.LimitBytes != math.MaxUint64 || caps != 0:
		t.Errorf("locked without a capability: limit %d, holds %s; want unlimited and none", m.LimitBytes, caps)
	}
	t.Logf("mlock: %s; kept %s", js, r.Privileges.Kept)
}

// Where the memory cannot be locked safely (a finite RLIMIT_MEMLOCK, no
// CAP_IPC_LOCK, no CAP_SYS_RESOURCE to raise it), the worker still runs,
// says so loudly, and keeps no capability; it allocates as it likes.
func TestLockDownWorkerMlockImpossible(t *testing.T) {
	requireLandlock(t)
	requireRoot(t)
	t.Parallel()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil || lim.Max == unix.RLIM_INFINITY {
		t.Skipf("RLIMIT_MEMLOCK is unlimited here (%v): memory can always be locked", err)
	}
	c := startHelper(t, modeMlock, envNoMemlock+"=1")
	var o mlockOut
	c.decode(t, &o)
	r := o.Report
	if o.Err != "" || !r.Enforced || len(r.Problems) != 0 {
		t.Fatalf("lock-down: %q %q; not locking memory must not fail it", o.Err, r.Problems)
	}
	if m := r.Mlock; m == nil || m.Locked || !strings.Contains(m.Reason, "RLIMIT_MEMLOCK") || m.LimitBytes != lim.Max {
		t.Errorf("mlock: %+v, want not locked, the limit (%d) named", m, lim.Max)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "memory NOT locked") {
		t.Errorf("notes %q do not say the memory is not locked", r.Notes)
	}
	if caps := r.Privileges.Creds.Caps(); caps != 0 || r.Privileges.Kept != 0 {
		t.Errorf("holds %s, kept %s; want none", caps, r.Privileges.Kept)
	}
	if !o.AllocOK {
		t.Error("allocating 128 MiB failed")
	}
}
