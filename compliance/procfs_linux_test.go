package compliance

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWritableFilesChild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, rw, ro := filepath.Join(dir, "w"), filepath.Join(dir, "rw"), filepath.Join(dir, "ro")
	if err := os.WriteFile(ro, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, modeWriter, envWriteFile+"="+w, envRDWRFile+"="+rw, envReadFile+"="+ro)
	c.wantNoHelperErr(t)

	files, err := WritableFiles(c.pid())
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: both files open for writing are reported, and
	// nothing else (not the read-only file, /dev/null, pipes).
	want := []string{w, rw}
	if !slices.Equal(files, want) {
		t.Errorf("WritableFiles(child) = %q, want %q", files, want)
	}
}

func TestWritableFilesSelf(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gone")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	files, err := WritableFiles(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A deleted file is still reported, as the kernel names it.
	if !slices.Contains(files, path+" (deleted)") {
		t.Errorf("WritableFiles(self) = %q, want it to contain %q", files, path+" (deleted)")
	}
}

func TestInspectNoSuchProcess(t *testing.T) {
	t.Parallel()
	const pid = math.MaxInt32 // above pid_max
	if _, err := WritableFiles(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WritableFiles: %v", err)
	}
	if _, err := NoNewPrivs(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NoNewPrivs: %v", err)
	}
	if _, _, err := CoreLimit(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CoreLimit: %v", err)
	}
	if _, err := Dumpable(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dumpable: %v", err)
	}
	if _, err := ReadIO(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadIO: %v", err)
	}
	if _, err := ReadStat(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadStat: %v", err)
	}
	if c := Children(pid); len(c) != 0 {
		t.Errorf("Children: %v", c)
	}
}

// TestProcessTree: a helper's own child is found below it, and its
// ancestry leads back through the helper to the test.
func TestProcessTree(t *testing.T) {
	t.Parallel()
	c := startHelper(t, modeParent)
	c.wantNoHelperErr(t)
	tree := Descendants(c.pid())
	if len(tree) != 1 {
		t.Fatalf("descendants of the helper: %v", tree)
	}
	anc := Ancestry(tree[0])
	if len(anc) < 3 || anc[0] != tree[0] || anc[1] != c.pid() || anc[2] != os.Getpid() {
		t.Fatalf("ancestry %v, want [%d %d %d ...]", anc, tree[0], c.pid(), os.Getpid())
	}
	if !slices.Contains(Children(os.Getpid()), c.pid()) {
		t.Fatal("the helper is not a child of the test")
	}
	if st, err := ReadStat(tree[0]); err != nil || st.PID != tree[0] || st.PPID != c.pid() || st.StartTime == 0 {
		t.Fatalf("ReadStat = %+v, %v", st, err)
	}
	if _, err := ReadIO(tree[0]); err != nil {
		t.Fatal(err)
	}
}

func TestNoNewPrivsControl(t *testing.T) {
	t.Parallel()
	// Negative control (the positive one is TestLockDownWorker): a plain
	// child inherits our flag, which a test process does not have.
	self, err := NoNewPrivs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self {
		t.Skip("this test process already runs with no_new_privs; no negative control possible")
	}
	if nnp, err := NoNewPrivs(sleeper(t)); err != nil || nnp {
		t.Errorf("NoNewPrivs(sleep) = %v, %v; want false", nnp, err)
	}
}

func TestCoreLimitControl(t *testing.T) {
	t.Parallel()
	pid := sleeper(t)
	set := func(soft, hard uint64) {
		t.Helper()
		if err := unix.Prlimit(pid, unix.RLIMIT_CORE, &unix.Rlimit{Cur: soft, Max: hard}, nil); err != nil {
			t.Skipf("prlimit on our own child: %v", err)
		}
	}
	tests := []struct {
		name       string
		soft, hard uint64
		root       bool // raising a hard limit needs CAP_SYS_RESOURCE
	}{
		{"unlimited", math.MaxUint64, math.MaxUint64, true},
		{"numbers", 4096, 1 << 20, false},
		{"zero", 0, 0, false},
	}
	for _, tc := range tests {
		if tc.root && os.Geteuid() != 0 {
			continue
		}
		set(tc.soft, tc.hard)
		soft, hard, err := CoreLimit(pid)
		if err != nil || soft != tc.soft || hard != tc.hard {
			t.Errorf("%s: CoreLimit = %d, %d, %v; want %d, %d", tc.name, soft, hard, err, tc.soft, tc.hard)
		}
	}
}

func BenchmarkWritableFiles(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WritableFiles(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDumpableControls(t *testing.T) {
	t.Parallel()
	// Positive control: a plain child of the same user is dumpable.
	if d, err := Dumpable(sleeper(t)); err != nil || !d {
		t.Errorf("Dumpable(sleep) = %v, %v; want true", d, err)
	}
	// Negative control: a child that cleared its own flag.
	c := startHelper(t, modeNonDumpable)
	c.wantNoHelperErr(t)
	if d, err := Dumpable(c.pid()); err != nil || d {
		t.Errorf("Dumpable(prctl(PR_SET_DUMPABLE, 0) child) = %v, %v; want false", d, err)
	}
	// Ourselves: answered by prctl, since the kernel always lets a process
	// into its own /proc.
	if d, err := Dumpable(os.Getpid()); err != nil || !d {
		t.Errorf("Dumpable(self) = %v, %v; want true", d, err)
	}
}

func TestDumpableOtherUser(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want bool
		err  error
	}{
		// Changing uid makes a process non-dumpable (fs.suid_dumpable);
		// prctl can make it dumpable again.
		{"setuid", nil, false, nil},
		{"setuid then dumpable", []string{envSetDumpable + "=1"}, true, nil},
		{"saved uid 0", []string{envSavedRoot + "=1", envSetDumpable + "=1"}, false, ErrCannotTell},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startHelper(t, modeSetuid, tc.env...)
			c.wantNoHelperErr(t)
			d, err := Dumpable(c.pid())
			if !errors.Is(err, tc.err) || d != tc.want {
				t.Errorf("Dumpable = %v, %v; want %v, %v", d, err, tc.want, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), "mixed") {
				t.Errorf("error does not say why: %v", err)
			}
		})
	}
	// A worker that keeps CAP_IPC_LOCK (for mlockall) can be judged too:
	// the probing thread keeps its permitted set through the uid change.
	for _, dumpable := range []bool{false, true} {
		t.Run(fmt.Sprintf("keeps cap_ipc_lock, dumpable %v", dumpable), func(t *testing.T) {
			t.Parallel()
			env := []string{envKeepIPCLock + "=1", envReadFile + "=" + os.DevNull}
			if dumpable {
				env = append(env, envSetDumpable+"=1")
			}
			c := startHelper(t, modeDrop, env...)
			var o dropOut
			c.decode(t, &o)
			if len(o.Failed) != 0 || o.Report.Creds.CapPrm != 1<<capIPCLock {
				t.Fatalf("drop: %+v", o)
			}
			d, err := Dumpable(c.pid())
			if err != nil || d != dumpable {
				t.Errorf("Dumpable = %v, %v; want %v", d, err, dumpable)
			}
		})
	}
}

// dropPrivileges as root: nobody, no group, no capability, no bounding
// set, the parent-death signal kept; a file in a root-only directory is
// then out of reach even without Landlock.
func TestDropPrivileges(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := t.TempDir() // mode 0700, root's
	secret := filepath.Join(dir, "admin.key")
	if err := os.WriteFile(secret, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, modeDrop, envReadFile+"="+secret)
	var o dropOut
	c.decode(t, &o)
	ids := [4]int{nobody, nobody, nobody, nobody}
	if len(o.Failed) != 0 || o.Report.StartUID != 0 || o.Report.SwitchedTo == nil || o.Report.Kept != 0 {
		t.Fatalf("drop: %+v", o)
	}
	if len(o.Notes) != 0 {
		t.Errorf("notes: %q", o.Notes)
	}
	if o.ReadErrno != "EACCES" {
		t.Errorf("reading %s as nobody: %q, want EACCES", secret, o.ReadErrno)
	}
	if o.PDeathSig != int(syscall.SIGUSR2) || o.Report.ParentDeathSignal != int(syscall.SIGUSR2) {
		t.Errorf("parent-death signal %d after the drop (reported %d), want %d", o.PDeathSig, o.Report.ParentDeathSignal, syscall.SIGUSR2)
	}
	if len(o.ThreadPDeathSigs) != 3 || slices.ContainsFunc(o.ThreadPDeathSigs, func(s int) bool { return s != int(syscall.SIGUSR2) }) {
		t.Errorf("threads' parent-death signals %v after the drop, want all %d", o.ThreadPDeathSigs, syscall.SIGUSR2)
	}
	// From outside, every thread.
	creds, err := Credentials(c.pid())
	if err != nil || creds.UIDs != ids || creds.GIDs != ids || len(creds.Groups) != 0 || creds.MixedThreads ||
		creds.CapInh|creds.CapPrm|creds.CapEff|creds.CapBnd|creds.CapAmb != 0 {
		t.Errorf("Credentials(child) = %+v, %v; want nobody with no capability", creds, err)
	}
	if problems, notes := judgeCreds(creds, &User{nobody, nobody}, 0, true); len(problems)+len(notes) != 0 {
		t.Errorf("judgeCreds: %q %q", problems, notes)
	}
}

// A probe of a process of our own user gives its thread back unchanged, so
// that the thread need not die (which would kill children started from it
// with Pdeathsig, as the media workers are).
func TestDumpableRestoresThread(t *testing.T) {
	t.Parallel()
	pid := sleeper(t)
	status, err := os.ReadFile(procDir(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := parseTargetCreds(status)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		dumpable, restored, same bool
		err                      error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var before, after [2]unix.CapUserData
		_ = unix.Capget(&hdr, &before[0])
		d, restored, err := probeDumpable(pid, tc)
		_ = unix.Capget(&hdr, &after[0])
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{d, restored, before == after, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Skipf("cannot probe here: %v", r.err)
	}
	if !r.dumpable || !r.restored || !r.same {
		t.Errorf("probe of our own sleep: dumpable=%v restored=%v caps unchanged=%v", r.dumpable, r.restored, r.same)
	}
}
