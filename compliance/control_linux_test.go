package compliance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLockDownControl(t *testing.T) {
	abi := requireLandlock(t)
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	outside := t.TempDir()
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "existing"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, modeControl, envDataDir+"="+data, envOutsideDir+"="+outside)
	var o controlOut
	c.decode(t, &o)
	js, _ := json.Marshal(o.Report)
	t.Logf("child report: %s", js)

	r := o.Report
	if o.Err != "" || !r.Enforced || len(r.Problems) != 0 || r.Role != RoleControl {
		t.Fatalf("LockDownControl: err=%q enforced=%v role=%q problems=%q", o.Err, r.Enforced, r.Role, r.Problems)
	}
	if r.LandlockABI != abi || !r.LandlockApplied || !r.NoNewPrivs || r.Dumpable || r.CoreLimitSoft != 0 || r.CoreLimitHard != 0 {
		t.Errorf("report: %s", js)
	}
	// The probes: denied outside (temp dir, parent of the data dir, the
	// extra dir), allowed in the data dir.
	want := map[string]bool{filepath.Clean(os.TempDir()): true, filepath.Dir(data): true, outside: true, data: false}
	for _, p := range r.Probes {
		if deny, ok := want[p.Path]; ok {
			if p.MustAllow == deny || !p.Passed() {
				t.Errorf("probe %+v: want mustAllow=%v and passed", p, !deny)
			}
			delete(want, p.Path)
		}
	}
	if len(want) != 0 {
		t.Errorf("not probed: %v (probes %+v)", want, r.Probes)
	}
	// The rules, as reported: read+execute everywhere, write the data dir
	// and /dev/null.
	var dataRule, rootRule []string
	for _, rule := range r.LandlockRules {
		switch rule.Path {
		case data:
			dataRule = rule.Access
		case "/":
			rootRule = rule.Access
		}
	}
	if !slices.Contains(dataRule, "write_file") || !slices.Contains(dataRule, "make_reg") || !slices.Contains(rootRule, "execute") || slices.Contains(rootRule, "write_file") {
		t.Errorf("rules: %+v", r.LandlockRules)
	}

	// What the child could still do, and what not.
	if o.InsideErrno != "" || o.NestedErrno != "" {
		t.Errorf("writing in the data dir: %q, nested: %q; want both to work", o.InsideErrno, o.NestedErrno)
	}
	if o.OutsideErrno != "EACCES" || o.ExistingErrno != "EACCES" {
		t.Errorf("writing outside: create %q, open existing %q; want EACCES", o.OutsideErrno, o.ExistingErrno)
	}
	if o.ExecErr != "" || !o.DevNullOK || !o.TCPOK {
		t.Errorf("exec own binary: %q, /dev/null: %v, TCP: %v; the control process needs all three", o.ExecErr, o.DevNullOK, o.TCPOK)
	}
	// Its seccomp filter: no anonymous files, no io_uring, and exec (of
	// its own binary, above) still works.
	if s := r.Seccomp; s == nil || s.Mode != 2 || s.Filters < 2 || !s.ForeignArchDenied || slices.Contains(s.Denied, "execve") {
		t.Errorf("control seccomp report: %+v", s)
	} else {
		for _, p := range s.Probes {
			if p.MustAllow == p.Denied {
				t.Errorf("control seccomp probe %+v", p)
			}
		}
	}
	if o.MemfdErrno != "EPERM" || o.IOUringErrno != "EPERM" {
		t.Errorf("after the filter: memfd_create %q, io_uring_setup %q; want EPERM", o.MemfdErrno, o.IOUringErrno)
	}
	if mode, filters, err := SeccompState(c.pid()); err != nil || mode != 2 || filters < 2 {
		t.Errorf("SeccompState(control child) = %d, %d, %v", mode, filters, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("outside dir holds %v", ents)
	}
	for _, f := range []string{"x.db", "sub/f"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}

	// One Landlock domain for all threads: a child started from one thread
	// can be inspected from any other.
	if len(o.CrossThread) != 4 || strings.Join(o.CrossThread, "") != "" || (os.Geteuid() == 0 && o.ChildDump != "true") {
		t.Errorf("inspecting a child across threads: %q, Dumpable(child) = %s", o.CrossThread, o.ChildDump)
	}

	// From outside.
	pid := c.pid()
	if d, err := Dumpable(pid); err != nil || d {
		t.Errorf("Dumpable(control child) = %v, %v; want false", d, err)
	}
	if nnp, err := NoNewPrivs(pid); err != nil || !nnp {
		t.Errorf("NoNewPrivs(control child) = %v, %v", nnp, err)
	}
}

func TestLockDownControlOptions(t *testing.T) {
	t.Parallel()
	if _, err := LockDownControl(ControlOptions{}); err == nil || !strings.Contains(err.Error(), "no data dir") {
		t.Errorf("no data dir: %v", err)
	}
	// Only errors that come before any lock-down: this process must stay free.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		if _, err := LockDownControl(ControlOptions{DataDir: dir}); err == nil {
			t.Errorf("data dir %s was accepted", dir)
		}
	}
}

func TestWithin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, root string
		want       bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b/c", "/a/b", true},
		{"/a/bc", "/a/b", false},
		{"/a", "/a/b", false},
		{"/a/..b", "/a", true},
		{"/x", "/", true},
	}
	for _, tc := range tests {
		if got := within(tc.path, tc.root); got != tc.want {
			t.Errorf("within(%q, %q) = %v", tc.path, tc.root, got)
		}
	}
}
