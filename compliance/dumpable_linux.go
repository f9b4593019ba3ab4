package compliance

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dumpable reports whether pid is dumpable, as the kernel judges it for
// ptrace access, determined from outside.
//
// Root holds CAP_SYS_PTRACE, which bypasses the dumpable check, so reading a
// flag through /proc proves nothing. Instead Dumpable asks the kernel for a
// ptrace "read" access from a throw-away OS thread whose credentials make
// dumpability the only thing that can be decided: the thread takes pid's
// real uid and gid (root only; credentials are per thread on Linux, and it
// keeps its permitted capabilities through the change) and drops
// CAP_SYS_PTRACE from its effective set, while pid's permitted capabilities
// must be a subset of the thread's. The probe is get_robust_list(2), which
// makes the kernel's PTRACE_MODE_READ_REALCREDS check and reads nothing
// from pid's memory: success means dumpable, EPERM means not. The same call
// is made first with the caller's own credentials as a control; if even that
// is refused, something else (an LSM, missing privileges) decides and the
// answer is ErrCannotTell. The thread is never handed back to the Go
// scheduler: it exits with its goroutine.
//
// Opening /proc/<pid>/environ is not used: on the 6.18 kernel this was
// developed on, a root caller without CAP_SYS_PTRACE could open it whether
// or not pid was dumpable.
//
// Limits: a dumpable value of 2 (fs.suid_dumpable=2) looks like 0 from
// outside. A non-root caller can only judge processes whose real, effective
// and saved uid and gid all equal its own real ones; nobody can judge a
// process whose ids differ among themselves (setuid), that holds
// capabilities the caller does not, or that lives in another user
// namespace. Those cases return an error matching ErrCannotTell. For the
// calling process itself it returns prctl(PR_GET_DUMPABLE) != 0.
//
// Side effect: when root inspects a process of another user, the kernel
// briefly clears the caller's own dumpable flag; Dumpable restores it.
func Dumpable(pid int) (bool, error) {
	if pid == os.Getpid() {
		credSwitch.Lock() // not while a probe has it cleared
		defer credSwitch.Unlock()
		v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil {
			return false, fmt.Errorf("dumpable: %w", err)
		}
		return v != 0, nil
	}
	status, err := os.ReadFile(procDir(pid) + "/status")
	if err != nil {
		return false, fmt.Errorf("dumpable: %w", err)
	}
	t, err := parseTargetCreds(status)
	if err != nil {
		return false, fmt.Errorf("dumpable: pid %d: %w", pid, err)
	}
	if t.uids[1] != t.uid || t.uids[2] != t.uid || t.gids[1] != t.gid || t.gids[2] != t.gid {
		return false, fmt.Errorf("dumpable: pid %d has mixed uids %v / gids %v: %w", pid, t.uids[:3], t.gids[:3], ErrCannotTell)
	}
	// An owner of pid's user namespace has every capability in it, dropped
	// CAP_SYS_PTRACE or not.
	self, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		return false, fmt.Errorf("dumpable: %w", err)
	}
	if theirs, err := os.Readlink(procDir(pid) + "/ns/user"); err == nil && theirs != self {
		return false, fmt.Errorf("dumpable: pid %d is in another user namespace: %w", pid, ErrCannotTell)
	}

	// Taking pid's ids on one thread makes the kernel reset the whole
	// process's dumpable flag (it belongs to the memory, shared by all
	// threads), so it is restored afterwards, one such probe at a time.
	credSwitch.Lock()
	defer credSwitch.Unlock()
	before, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("dumpable: %w", err)
	}
	defer func() {
		if after, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err == nil && after != before && before <= 1 {
			_ = unix.Prctl(unix.PR_SET_DUMPABLE, uintptr(before), 0, 0, 0)
		}
	}()

	type result struct {
		dumpable bool
		err      error
	}
	ch := make(chan result, 1)
	go func() {
		// Unlocked only if probeDumpable put the thread's credentials back
		// as they were; otherwise the runtime destroys the thread when the
		// goroutine ends. That matters: a child started with Pdeathsig
		// from this thread (the media workers) is killed when it ends.
		runtime.LockOSThread()
		d, restored, err := probeDumpable(pid, t)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{d, err}
	}()
	r := <-ch
	return r.dumpable, r.err
}

// credSwitch serialises Dumpable's probes: each may change and then restore
// the process-wide dumpable flag. It is package state because that flag is
// process state.
var credSwitch sync.Mutex

// targetCreds are the ids and permitted capabilities of the inspected
// process, from its status file.
type targetCreds struct {
	uids, gids [4]int
	uid, gid   int    // the real ones
	capPrm     uint64 // CapPrm
}

func parseTargetCreds(status []byte) (targetCreds, error) {
	var t targetCreds
	var err error
	if t.uids, err = parseIDs(status, "Uid"); err != nil {
		return t, err
	}
	if t.gids, err = parseIDs(status, "Gid"); err != nil {
		return t, err
	}
	t.uid, t.gid = t.uids[0], t.gids[0]
	prm, err := statusField(status, "CapPrm")
	if err != nil {
		return t, err
	}
	if t.capPrm, err = strconv.ParseUint(prm, 16, 64); err != nil {
		return t, fmt.Errorf("%w: CapPrm %q", ErrMalformed, prm)
	}
	return t, nil
}

// probeDumpable runs on a locked thread. restored reports that the
// thread's credentials are as they were on entry, so that it may go back to
// the scheduler: true when it did not have to take pid's ids (the same
// user: the only change was CAP_SYS_PTRACE in the effective set, which is
// raised again and read back).
func probeDumpable(pid int, t targetCreds) (dumpable, restored bool, err error) {
	// Control: with the caller's own credentials the access must work, or
	// a refusal later would say nothing about dumpability.
	if err := ptraceRead(pid); err != nil {
		if errors.Is(err, unix.EPERM) {
			return false, true, fmt.Errorf("dumpable: ptrace read access to pid %d is refused even with our own credentials: %w", pid, ErrCannotTell)
		}
		return false, true, fmt.Errorf("dumpable: %w", err)
	}

	ruid, _, _ := unix.Getresuid()
	rgid, _, _ := unix.Getresgid()
	sameIDs := ruid == t.uid && rgid == t.gid
	if !sameIDs {
		if unix.Geteuid() != 0 {
			return false, true, fmt.Errorf("dumpable: pid %d runs as uid %d gid %d; we are not root and not that user: %w", pid, t.uid, t.gid, ErrCannotTell)
		}
		// Raw syscalls: they change this thread only (the unix and
		// syscall wrappers change every thread of the process). With
		// keep-caps the thread keeps its permitted set through the uid
		// change (the effective set is emptied), so that a target holding
		// a capability (a worker keeping CAP_IPC_LOCK) stays within it.
		if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
			return false, false, fmt.Errorf("dumpable: prctl(PR_SET_KEEPCAPS): %w", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(t.gid), uintptr(t.gid), uintptr(t.gid)); e != 0 {
			return false, false, fmt.Errorf("dumpable: setresgid: %w", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(t.uid), uintptr(t.uid), uintptr(t.uid)); e != 0 {
			return false, false, fmt.Errorf("dumpable: setresuid: %w", e)
		}
	}

	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps, orig [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return false, sameIDs, fmt.Errorf("dumpable: capget: %w", err)
	}
	orig = caps
	if sameIDs {
		defer func() {
			var now [2]unix.CapUserData
			restored = unix.Capset(&hdr, &orig[0]) == nil && unix.Capget(&hdr, &now[0]) == nil && now == orig
		}()
	}
	caps[0].Effective &^= 1 << unix.CAP_SYS_PTRACE
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return false, false, fmt.Errorf("dumpable: capset: %w", err)
	}

	// Read everything back: the answer is only honest if it all took.
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return false, false, fmt.Errorf("dumpable: capget: %w", err)
	}
	if caps[0].Effective&(1<<unix.CAP_SYS_PTRACE) != 0 {
		return false, false, fmt.Errorf("dumpable: CAP_SYS_PTRACE still effective: %w", ErrCannotTell)
	}
	if ruid, euid, suid := unix.Getresuid(); ruid != t.uid || euid != t.uid || suid != t.uid {
		return false, false, fmt.Errorf("dumpable: thread uids %d/%d/%d, want %d: %w", ruid, euid, suid, t.uid, ErrCannotTell)
	}
	if rgid, egid, sgid := unix.Getresgid(); rgid != t.gid || egid != t.gid || sgid != t.gid {
		return false, false, fmt.Errorf("dumpable: thread gids %d/%d/%d, want %d: %w", rgid, egid, sgid, t.gid, ErrCannotTell)
	}
	// The kernel also refuses a caller whose permitted set does not cover
	// the target's.
	if prm := uint64(caps[1].Permitted)<<32 | uint64(caps[0].Permitted); t.capPrm&^prm != 0 {
		return false, false, fmt.Errorf("dumpable: pid %d holds capabilities %#x that we do not: %w", pid, t.capPrm&^prm, ErrCannotTell)
	}

	err = ptraceRead(pid)
	switch {
	case err == nil:
		return true, false, nil
	case errors.Is(err, unix.EPERM):
		return false, false, nil
	default:
		return false, false, fmt.Errorf("dumpable: %w", err)
	}
}

// ptraceRead asks for PTRACE_MODE_READ_REALCREDS access to pid through
// get_robust_list(2), which only returns a pointer of pid's main thread.
func ptraceRead(pid int) error {
	var head, size uintptr
	_, _, e := unix.Syscall(unix.SYS_GET_ROBUST_LIST, uintptr(pid), uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return fmt.Errorf("get_robust_list(%d): %w", pid, e)
	}
	return nil
}
