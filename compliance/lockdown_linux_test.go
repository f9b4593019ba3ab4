package compliance

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockDownWorker(t *testing.T) {
	abi := requireLandlock(t)
	t.Parallel()
	probeDir := t.TempDir()
	existing := filepath.Join(t.TempDir(), "existing")
	if err := os.WriteFile(existing, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, modeLockdown, envProbeDir+"="+probeDir, envExisting+"="+existing)
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

	// Every thread, whether it existed before the lock-down or not.
	tids := map[int]bool{}
	for _, th := range o.Threads {
		tids[th.Tid] = true
		if th.CreateErrno != "EACCES" || th.WriteExistErrno != "EACCES" || !th.ReadExistOK || !th.NoNewPrivs {
			t.Errorf("thread %+v: want create and write denied with EACCES, read allowed, no_new_privs", th)
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
}

func TestLockDownWorkerNotEnforced(t *testing.T) {
	requireLandlock(t)
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	c := startHelper(t, modeUnenforced, envMissingDir+"="+missing)
	var o lockdownOut
	c.decode(t, &o)

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
