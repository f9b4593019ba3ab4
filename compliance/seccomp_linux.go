package compliance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls are the system calls the worker's filter answers with
// EPERM: running programs, anonymous files, io_uring (which would bypass
// the filter), reading or writing other processes, mounting, swap, BPF,
// userfaultfd, handle-based opens, kernels and modules, perf, the keyring,
// personality, namespaces and a few host-wide switches. Neither the Go
// runtime nor Pion calls any of them.
func deniedSyscalls() []string {
	return append([]string{"execve", "execveat"}, controlDeniedSyscalls()...)
}

// controlDeniedSyscalls are the system calls the control process's filter
// answers with EPERM: the worker's list but exec, which it needs to spawn
// its workers from its own binary (and, on older kernels, to re-execute
// itself). It calls none of them: SQLite (modernc, pure Go), HTTP and the
// measurements of the attestation (/proc reads, get_robust_list,
// per-thread setresuid) need none, and the workers it spawns inherit the
// filter beneath their own.
func controlDeniedSyscalls() []string {
	return []string{
		"memfd_create",
		"io_uring_setup", "io_uring_enter", "io_uring_register",
		"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
		"mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
		"move_mount", "open_tree", "open_tree_attr", "mount_setattr",
		"swapon", "swapoff",
		"bpf", "userfaultfd",
		"open_by_handle_at", "name_to_handle_at",
		"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
		"perf_event_open",
		"keyctl", "add_key", "request_key",
		"personality",
		"unshare", "setns",
		"acct", "reboot", "syslog", "quotactl", "quotactl_fd", "iopl", "ioperm", "uselib", "vhangup",
	}
}

// retEPERM is the filter's answer to a denied call.
const retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)

// LockDownSyscalls completes the worker's lock-down once its sockets are
// open. It installs, on every thread (SECCOMP_FILTER_FLAG_TSYNC), a
// seccomp filter built with go-seccomp-bpf that answers the calls of
// deniedSyscalls with EPERM (not a kill, so that it can be probed), and a
// second one that answers every call made through a foreign ABI (x32 is
// already refused by the first) with EPERM, so that the list cannot be
// bypassed by a call's number in another table. Before and after, it
// tries a set of the denied calls with harmless arguments; memfd_create and
// execve must go from not-EPERM to EPERM (memfd_create may be EPERM
// already when a filter was inherited from the control process, but at
// least one probe must show this filter's own effect). It then reads
// Seccomp and Seccomp_filters of every thread back from /proc/self/task.
//
// Last, it seals the filesystem: a second Landlock ruleset, stacked on
// LockDownWorker's, grants only /dev/null, so that the worker's own
// /proc/<pid>, which the measurements needed, is out of reach too (on
// kernels below Landlock ABI 8, go-landlock adds /proc/<pid>/task for
// listing, which its thread-syncing library needs); opening
// /proc/self/status must then fail with EACCES.
//
// The results go into r.Seccomp, failures into r.Problems with
// r.Enforced=false, and the error follows LockDownWorker's rules
// (ErrNotEnforced unless opts.AllowUnenforced). no_new_privs must already
// be set (LockDownWorker does it). A filter cannot be removed.
func LockDownSyscalls(r *Report, opts LockOptions) error {
	failed := installFilter(r, deniedSyscalls(), syscallProbes())
	if r.LandlockApplied {
		failed = append(failed, seal(r)...)
	}
	rep, err := finish(*r, failed, opts.AllowUnenforced)
	*r = rep
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

// LockDownControlSyscalls installs the control process's seccomp filter
// (controlDeniedSyscalls, and the foreign-ABI filter), as LockDownSyscalls
// does for the worker, and probes it: memfd_create must go to EPERM, and
// execve must still be allowed (an argv the kernel cannot read gives
// EFAULT). serve calls it right after LockDownControl. The workers it
// spawns inherit the filter. Errors follow LockDownControl's rules.
func LockDownControlSyscalls(r *Report, opts ControlOptions) error {
	failed := installFilter(r, controlDeniedSyscalls(), controlSyscallProbes())
	rep, err := finish(*r, failed, opts.AllowUnenforced)
	*r = rep
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

// installFilter installs a deny list and probes it; it returns the
// failures.
func installFilter(r *Report, denied []string, probes []syscallProbe) []string {
	sr := &SeccompReport{}
	r.Seccomp = sr
	var failed []string
	fail := func(format string, args ...any) {
		failed = append(failed, fmt.Sprintf(format, args...))
	}

	info, err := arch.GetInfo("")
	if err != nil {
		fail("seccomp: %v", err)
	} else {
		for _, name := range denied {
			if _, ok := info.SyscallNames[name]; ok {
				sr.Denied = append(sr.Denied, name)
			} else {
				sr.NotOnThisArch = append(sr.NotOnThisArch, name)
			}
		}
	}

	mode, filters, err := SeccompState(os.Getpid())
	if err != nil {
		fail("seccomp: %v", err)
	}
	inherited := mode == 2
	if inherited && filters > 0 {
		sr.InheritedFilters = filters
	}
	before := make([]string, len(probes))
	for i, p := range probes {
		before[i] = p.try()
	}

	if info != nil {
		filter := seccomp.Filter{
			NoNewPrivs: true,
			Flag:       seccomp.FilterFlagTSync,
			Policy: seccomp.Policy{
				DefaultAction: seccomp.ActionAllow,
				Syscalls:      []seccomp.SyscallGroup{{Names: sr.Denied, Action: seccomp.ActionErrno}},
			},
		}
		if err := seccomp.LoadFilter(filter); err != nil {
			fail("seccomp: %v", err)
		} else if err := denyForeignArch(uint32(info.ID)); err != nil {
			fail("seccomp: foreign-ABI filter: %v", err)
		} else {
			sr.ForeignArchDenied = true
		}
	}

	conclusive := 0
	for i, p := range probes {
		after := p.try()
		sp := SyscallProbe{Syscall: p.name, Before: before[i], After: after, MustAllow: p.allowed,
			Denied: after == "EPERM", Conclusive: before[i] != "EPERM"}
		sr.Probes = append(sr.Probes, sp)
		switch {
		case p.allowed:
			if sp.Denied {
				fail("seccomp probe: %s gave EPERM after the filter, but the process needs it", p.name)
			}
			continue
		case !sp.Denied:
			fail("seccomp probe: %s gave %q after the filter, want EPERM", p.name, after)
		case p.required && !sp.Conclusive && !inherited:
			fail("seccomp probe: %s was already refused with EPERM before the filter: the probe proves nothing", p.name)
		}
		if sp.Denied && sp.Conclusive {
			conclusive++
		}
	}
	if conclusive == 0 {
		fail("seccomp probe: no denied call was allowed before the filter: the probes prove nothing about it")
	}

	sr.Mode, sr.Filters, err = SeccompState(os.Getpid())
	switch {
	case err != nil:
		fail("seccomp: %v", err)
	case sr.Mode != 2:
		fail("seccomp: a thread has mode %d, want 2 (filter)", sr.Mode)
	case sr.Filters >= 0 && sr.Filters < sr.InheritedFilters+2:
		fail("seccomp: a thread has %d filters, want at least %d", sr.Filters, sr.InheritedFilters+2)
	}
	return failed
}

// seal stacks the worker's second Landlock ruleset (see LockDownSyscalls)
// and probes it; it returns the failures.
func seal(r *Report) []string {
	var failed []string
	rules := []pathRule{writeFile(os.DevNull)}
	if landlockListsTasks && r.LandlockABI < 8 {
		const listDir = landlock.AccessFSSet(ll.AccessFSReadDir)
		rules = append(rules, pathRule{procDir(os.Getpid()) + "/task",
			func(paths ...string) landlock.FSRule { return landlock.PathAccess(listDir, paths...) }, listDir,
			"added by go-landlock below Landlock ABI 8: its thread-syncing library (libpsx) lists the threads"})
	}
	applied, err := applyLandlock(rules)
	if err != nil {
		failed = append(failed, fmt.Sprintf("landlock seal: %v", err))
	}
	if applied {
		r.LandlockSealed = true
		r.LandlockSealRules = reportRules(rules, handledAt(r.LandlockABI))
	}
	p := probeRead("/proc/self/status")
	r.ReadProbes = append(r.ReadProbes, p)
	if !p.Passed() {
		failed = append(failed, "read probe after the seal: "+p.failure())
	}
	return failed
}

// denyForeignArch installs, on every thread, a filter that allows calls of
// the native audit architecture and answers all others with EPERM.
func denyForeignArch(native uint32) error {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: native, SkipTrue: 1},
		bpf.RetConstant{Val: retEPERM},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
	})
	if err != nil {
		return err
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return errno
	}
	return nil
}

// SeccompState returns the weakest seccomp mode and the fewest filters over
// pid's threads, from /proc/<pid>/task/*/status. Mode 2 is filtering;
// filters is -1 on kernels that do not count them (before 5.9).
func SeccompState(pid int) (mode, filters int, err error) {
	dir := procDir(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("seccomp state: %w", err)
	}
	seen := 0
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue // thread exited meanwhile
		}
		if err != nil {
			return 0, 0, fmt.Errorf("seccomp state: %w", err)
		}
		m, f, err := parseSeccomp(data)
		if err != nil {
			return 0, 0, fmt.Errorf("seccomp state: task %s: %w", e.Name(), err)
		}
		if seen == 0 || m < mode {
			mode = m
		}
		if seen == 0 || f < filters {
			filters = f
		}
		seen++
	}
	if seen == 0 {
		return 0, 0, fmt.Errorf("seccomp state: pid %d: %w", pid, os.ErrNotExist)
	}
	return mode, filters, nil
}

// syscallProbe is one denied call with arguments that do nothing even when
// it is allowed: bad pointers, invalid commands, queries.
type syscallProbe struct {
	name     string
	required bool // must be conclusive
	allowed  bool // must not be EPERM after the filter
	try      func() string
}

// errnoOf names the errno of a raw call ("" for success).
func errnoOf(e unix.Errno) string {
	if e == 0 {
		return ""
	}
	return errnoName(e)
}

// syscallProbes lists the probes. None of them can change anything: the
// execs carry an argv pointer that the kernel fails to read (EFAULT) before
// the point of no return, the memfd is closed at once, the rest get
// invalid commands, null pointers or a no-op length.
func syscallProbes() []syscallProbe {
	bin, _ := unix.BytePtrFromString("/bin/true")
	name, _ := unix.BytePtrFromString("lethe-probe")
	const badPtr = 1 // a non-null address nobody can read
	// raw makes a probe of a call whose arguments hold no pointer.
	raw := func(trap uintptr, a ...uintptr) func() string {
		return func() string {
			var args [6]uintptr
			copy(args[:], a)
			_, _, e := unix.Syscall6(trap, args[0], args[1], args[2], args[3], args[4], args[5])
			return errnoOf(e)
		}
	}
	self := uintptr(os.Getpid())
	fdcwd := unix.AT_FDCWD
	return []syscallProbe{
		{"memfd_create", true, false, func() string {
			fd, _, e := unix.Syscall(unix.SYS_MEMFD_CREATE, uintptr(unsafe.Pointer(name)), unix.MFD_CLOEXEC, 0)
			if e == 0 {
				_ = unix.Close(int(fd))
			}
			return errnoOf(e)
		}},
		{"execve", true, false, func() string {
			_, _, e := unix.Syscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(bin)), badPtr, 0)
			return errnoOf(e)
		}},
		{"execveat", false, false, func() string {
			_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fdcwd), uintptr(unsafe.Pointer(bin)), badPtr, 0, 0, 0)
			return errnoOf(e)
		}},
		{"io_uring_setup", false, false, raw(unix.SYS_IO_URING_SETUP, 0, 0)},
		{"ptrace", false, false, raw(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0, 0, 0)},
		{"process_vm_readv", false, false, raw(unix.SYS_PROCESS_VM_READV, self, 0, 0, 0, 0, 0)},
		{"process_vm_writev", false, false, raw(unix.SYS_PROCESS_VM_WRITEV, self, 0, 0, 0, 0, 0)},
		{"userfaultfd", false, false, raw(unix.SYS_USERFAULTFD, ^uintptr(0))},
		{"bpf", false, false, raw(unix.SYS_BPF, 0xffff, 0, 0)},
		{"perf_event_open", false, false, raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0)},
		{"keyctl", false, false, raw(unix.SYS_KEYCTL, 0xffff)},
		{"personality", false, false, raw(unix.SYS_PERSONALITY, 0xffffffff)},
		{"mount", false, false, raw(unix.SYS_MOUNT, 0, 0, 0, 0, 0)},
		{"umount2", false, false, raw(unix.SYS_UMOUNT2, 0, 0)},
		{"fsopen", false, false, raw(unix.SYS_FSOPEN, 0, 0)},
		{"open_by_handle_at", false, false, raw(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0)},
	}
}

// controlSyscallProbes are the control process's probes: the worker's of
// the calls it denies too, and execve, which must stay allowed.
func controlSyscallProbes() []syscallProbe {
	var out []syscallProbe
	for _, p := range syscallProbes() {
		switch p.name {
		case "execveat":
		case "execve":
			p.required, p.allowed = false, true
			out = append(out, p)
		default:
			out = append(out, p)
		}
	}
	return out
}
