package compliance

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

func TestLockDownSyscalls(t *testing.T) {
	requireLandlock(t)
	t.Parallel()
	env := []string{}
	root := os.Geteuid() == 0
	if root {
		env = append(env, envMlock+"=1") // root may lock any amount
	}
	c := startHelper(t, modeSeccomp, env...)
	var o seccompOut
	c.decode(t, &o)
	js, _ := json.Marshal(o.Report)
	t.Logf("child report: %s", js)

	r := o.Report
	if o.Err != "" || o.SysErr != "" || !r.Enforced || len(r.Problems) != 0 {
		t.Fatalf("lock-down: err=%q syscalls err=%q enforced=%v problems=%q", o.Err, o.SysErr, r.Enforced, r.Problems)
	}
	s := r.Seccomp
	if s == nil || s.Mode != 2 || s.Filters < 2 || !s.ForeignArchDenied {
		t.Fatalf("seccomp report: %+v", s)
	}
	for _, name := range []string{"execve", "execveat", "memfd_create", "io_uring_setup", "ptrace", "process_vm_readv",
		"process_vm_writev", "mount", "umount2", "pivot_root", "fsopen", "fsmount", "move_mount", "open_tree",
		"swapon", "swapoff", "bpf", "userfaultfd", "open_by_handle_at", "kexec_load", "init_module",
		"finit_module", "perf_event_open", "keyctl", "add_key", "request_key", "personality"} {
		if !slices.Contains(s.Denied, name) {
			t.Errorf("%s is not denied", name)
		}
	}
	required := map[string]bool{"memfd_create": false, "execve": false}
	for _, p := range s.Probes {
		if !p.Denied || p.After != "EPERM" {
			t.Errorf("probe %+v: want EPERM after", p)
		}
		if _, ok := required[p.Syscall]; ok {
			required[p.Syscall] = p.Conclusive
		}
	}
	for name, ok := range required {
		if !ok {
			t.Errorf("probe of %s missing or inconclusive: %+v", name, s.Probes)
		}
	}

	// What the child saw afterwards.
	if o.MemfdErrno != "EPERM" || o.ExecErrno != "EPERM" {
		t.Errorf("after the filter: memfd_create %q, exec /bin/true %q; want EPERM", o.MemfdErrno, o.ExecErrno)
	}
	// From outside: the worker cannot read its own status files any more.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", c.pid(), o.NewThread)); err != nil {
		t.Errorf("thread started after the filter: %v", err)
	} else if mode, _, _ := parseSeccomp(st); mode != 2 {
		t.Errorf("a thread started after the filter has seccomp mode %d", mode)
	}
	if !o.UDPOK || !o.AllocOK || !o.PipeOK {
		t.Errorf("after the filter: udp=%v alloc=%v pipe=%v; the worker needs all", o.UDPOK, o.AllocOK, o.PipeOK)
	}
	// The seal: not even its own /proc entry is readable any more.
	own := fmt.Sprintf("/proc/%d", c.pid())
	if !r.LandlockSealed || o.ReadErrno != "EACCES" {
		t.Errorf("after the seal: sealed=%v, reading /proc/self/status: %q; want sealed and EACCES", r.LandlockSealed, o.ReadErrno)
	}
	for _, rule := range r.LandlockSealRules {
		if rule.Path != os.DevNull && (rule.Path != own+"/task" || !slices.Equal(rule.Access, []string{"read_dir"})) {
			t.Errorf("seal rule %+v", rule)
		}
	}
	if n := len(r.ReadProbes); n == 0 || r.ReadProbes[n-1].Path != "/proc/self/status" || !r.ReadProbes[n-1].Passed() {
		t.Errorf("no passing read probe of the seal: %+v", r.ReadProbes)
	}
	if root {
		if r.Mlock == nil || !r.Mlock.Locked || r.Mlock.VmLckKB == 0 {
			t.Errorf("mlock: %+v", r.Mlock)
		}
	}

	// From outside: every thread filters.
	mode, filters, err := SeccompState(c.pid())
	if err != nil || mode != 2 || filters < 2 {
		t.Errorf("SeccompState(child) = %d, %d, %v; want 2, >=2", mode, filters, err)
	}
	if m := MeasureProcess(c.pid()); root && m.VmLckKB == 0 {
		t.Errorf("VmLck of the child = 0 after mlockall")
	}
}

// Our own process has no filter: the outside view says so.
func TestSeccompStateSelf(t *testing.T) {
	t.Parallel()
	mode, filters, err := SeccompState(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.ReadFile("/proc/self/status")
	want, _, _ := parseSeccomp(st)
	if mode != want || filters < 0 {
		t.Errorf("SeccompState(self) = %d, %d; status says mode %d", mode, filters, want)
	}
	if _, _, err := SeccompState(1 << 30); err == nil {
		t.Error("SeccompState of no process: no error")
	}
}

// The control process's filter: the worker's list but exec, which it
// needs to spawn its workers. TestLockDownControl runs it in a child.
func TestControlDeniedSyscalls(t *testing.T) {
	t.Parallel()
	control := controlDeniedSyscalls()
	for _, name := range []string{"memfd_create", "io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace",
		"process_vm_readv", "process_vm_writev", "pidfd_getfd", "mount", "fsopen", "bpf", "userfaultfd",
		"kexec_load", "init_module", "perf_event_open", "keyctl", "unshare", "setns", "swapon"} {
		if !slices.Contains(control, name) {
			t.Errorf("the control process may call %s", name)
		}
	}
	for _, name := range []string{"execve", "execveat", "clone", "clone3", "setresuid", "get_robust_list", "pidfd_open", "wait4"} {
		if slices.Contains(control, name) {
			t.Errorf("the control process may not call %s, which it needs", name)
		}
	}
	probes := controlSyscallProbes()
	allowed := 0
	for _, p := range probes {
		if p.allowed {
			allowed++
			if p.name != "execve" {
				t.Errorf("probe %s must be allowed?", p.name)
			}
		} else if !slices.Contains(control, p.name) {
			t.Errorf("probe of %s, which is not denied", p.name)
		}
	}
	if allowed != 1 {
		t.Errorf("%d probes of allowed calls, want 1 (execve)", allowed)
	}
}

func TestDeniedSyscallsExistOnAmd64(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, n := range deniedSyscalls() {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
	}
	for _, p := range syscallProbes() {
		if !seen[p.name] {
			t.Errorf("probe of %s, which is not denied", p.name)
		}
	}
}

// The rights reported for go-landlock's canned rules are the rights those
// rules ask for.
func TestCannedAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule landlock.FSRule
		want landlock.AccessFSSet
	}{
		{landlock.RODirs("/x"), accessRead},
		{landlock.RWDirs("/x"), accessReadWrite},
		{landlock.RWFiles("/x"), accessReadWrite & accessFile},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(tc.rule); got != "REQUIRE "+tc.want.String()+" for paths [/x]" {
			t.Errorf("%s: reported as %s", got, tc.want)
		}
	}
	if got := accessNames(accessRead); !slices.Equal(got, []string{"execute", "read_file", "read_dir"}) {
		t.Errorf("accessNames = %q", got)
	}
	if got := accessNames(0); len(got) != 0 {
		t.Errorf("accessNames(0) = %q", got)
	}
	if handledAt(0) != 0 || handledAt(1) == 0 || handledAt(99) != landlock.V11.HandledAccessFS {
		t.Error("handledAt")
	}
	if strings.Contains(strings.Join(accessNames(handledAt(3)), ","), "ioctl_dev") {
		t.Error("ABI 3 handles ioctl_dev?")
	}
	_ = unix.EPERM
}
