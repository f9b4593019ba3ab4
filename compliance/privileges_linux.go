package compliance

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// User is the unprivileged identity a worker started as root switches to.
type User struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// PrivilegeReport is what the worker's privilege drop did, read back.
type PrivilegeReport struct {
	// StartUID is the effective uid the process had before.
	StartUID int `json:"startUID"`
	// SwitchedTo is the user it switched to; nil when it kept its own
	// (started as another user than root).
	SwitchedTo *User `json:"switchedTo,omitempty"`
	// Kept are the capabilities it deliberately kept, and why; empty
	// normally.
	Kept    CapSet `json:"kept"`
	KeptWhy string `json:"keptWhy,omitempty"`
	// ParentDeathSignal is the signal every thread gets set to receive when
	// the parent (the control process) dies; 0 for none.
	ParentDeathSignal int `json:"parentDeathSignal,omitempty"`
	// Creds are read back from /proc/self/task/*/status afterwards.
	Creds Creds `json:"creds"`
}

// capabilities returns the calling thread's effective and permitted sets.
func capabilities() (eff, prm CapSet, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, fmt.Errorf("capget: %w", err)
	}
	eff = CapSet(data[0].Effective) | CapSet(data[1].Effective)<<32
	prm = CapSet(data[0].Permitted) | CapSet(data[1].Permitted)<<32
	return eff, prm, nil
}

// allThreads makes a system call on every thread (psx) and names it in
// the error.
func allThreads(name string, trap uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	if _, _, e := psx.Syscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5]); e != 0 {
		return fmt.Errorf("%s: %w", name, e)
	}
	return nil
}

// setCapabilities sets, on every thread, the permitted and effective sets
// to keep and the inheritable set to nothing.
func setCapabilities(keep CapSet) error {
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := new([2]unix.CapUserData)
	data[0].Effective, data[0].Permitted = uint32(keep), uint32(keep)
	data[1].Effective, data[1].Permitted = uint32(keep>>32), uint32(keep>>32)
	err := allThreads("capset", unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(&data[0])))
	runtime.KeepAlive(hdr)
	runtime.KeepAlive(data)
	return err
}

// dropPrivileges gives up, on every thread, what the media worker does not
// need: every capability but keep (from the effective, permitted,
// inheritable and ambient sets) and, where the process may (CAP_SETPCAP),
// the whole bounding set; and, when user is set and differs from the
// process's ids, root's identity: supplementary groups, gid and uid all
// become user's. A process started as another user than root keeps its ids
// (user must then be nil or equal to them) and its bounding set, which it
// may not change.
//
// The kernel clears the parent-death signal when the ids change, so it is
// set again afterwards, on every thread: pdeath, or, if that is 0, the
// calling thread's (which is only the process's if it is the thread that
// was forked: a parent-death signal is per thread). If the parent exited
// meanwhile, that is a failure: no signal will come.
//
// It returns what it read back from /proc/self/task afterwards, the
// failures and the notes.
func dropPrivileges(user *User, keep CapSet, pdeath int) (pr PrivilegeReport, failed, notes []string) {
	fail := func(format string, args ...any) { failed = append(failed, fmt.Sprintf(format, args...)) }
	pr.StartUID = unix.Geteuid()
	eff, prm, err := capabilities()
	if err != nil {
		fail("privileges: %v", err)
		return pr, failed, notes
	}
	keep &= prm
	parent := os.Getppid()
	if pdeath == 0 {
		if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&pdeath)), 0, 0, 0); err != nil {
			fail("privileges: prctl(PR_GET_PDEATHSIG): %v", err)
		}
	}

	// The bounding set limits what a later exec could grant.
	canDropBounding := eff.Has(capSetPCap)
	if canDropBounding {
		for n := 0; ; n++ {
			if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err != nil {
				break // EINVAL past the kernel's last capability
			}
			if err := allThreads("prctl(PR_CAPBSET_DROP)", unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(n)); err != nil {
				fail("privileges: %v", err)
				break
			}
		}
	}
	if err := allThreads("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL); err != nil {
		fail("privileges: %v", err)
	}

	groups, _ := unix.Getgroups()
	uid, gid := unix.Getuid(), unix.Getgid()
	if user != nil && (uid != user.UID || unix.Geteuid() != user.UID || gid != user.GID || unix.Getegid() != user.GID || len(groups) > 0) {
		if keep != 0 {
			if err := allThreads("prctl(PR_SET_KEEPCAPS)", unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1); err != nil {
				fail("privileges: %v", err)
			}
		}
		g, u := uintptr(user.GID), uintptr(user.UID)
		if err := allThreads("setgroups([])", unix.SYS_SETGROUPS, 0, 0); err != nil {
			fail("privileges: %v", err)
		} else if err := allThreads("setresgid", unix.SYS_SETRESGID, g, g, g); err != nil {
			fail("privileges: %v", err)
		} else if err := allThreads("setresuid", unix.SYS_SETRESUID, u, u, u); err != nil {
			fail("privileges: %v", err)
		} else {
			pr.SwitchedTo = user
		}
	}
	if err := setCapabilities(keep); err != nil {
		fail("privileges: %v", err)
	}
	if keep != 0 {
		if err := allThreads("prctl(PR_SET_KEEPCAPS, 0)", unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0); err != nil {
			fail("privileges: %v", err)
		}
	}
	if pdeath != 0 {
		if err := allThreads("prctl(PR_SET_PDEATHSIG)", unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(pdeath)); err != nil {
			fail("privileges: %v", err)
		}
		if os.Getppid() != parent {
			fail("privileges: the parent process exited during the lock-down")
		}
	}
	pr.Kept, pr.ParentDeathSignal = keep, pdeath

	// Read it all back.
	var after int
	if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&after)), 0, 0, 0); err != nil || after != pdeath {
		fail("privileges: parent-death signal is %d after the drop, want %d", after, pdeath)
	}
	c, err := Credentials(os.Getpid())
	if err != nil {
		fail("privileges: %v", err)
		return pr, failed, notes
	}
	pr.Creds = c
	f, n := judgeCreds(c, user, keep, canDropBounding)
	return pr, append(failed, f...), append(notes, n...)
}

// judgeCreds says what is wrong with a worker's credentials after the
// drop: user is the identity it must have (nil: any but root), keep the
// capabilities it may hold, bounding whether its bounding set must be
// empty. The attestation judges the measured credentials with it too.
func judgeCreds(c Creds, user *User, keep CapSet, bounding bool) (problems, notes []string) {
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.MixedThreads {
		add("credentials differ between threads")
	}
	if user != nil && (c.UIDs != [4]int{user.UID, user.UID, user.UID, user.UID} || c.GIDs != [4]int{user.GID, user.GID, user.GID, user.GID}) {
		add("runs as uids %v gids %v, want %d:%d", c.UIDs, c.GIDs, user.UID, user.GID)
	}
	if c.Root() {
		add("runs as root (uids %v)", c.UIDs)
	}
	if extra := c.Caps() &^ keep; extra != 0 {
		add("holds capabilities %s", extra)
	}
	if c.CapInh != 0 || c.CapAmb != 0 {
		add("inheritable %s, ambient %s: want none", c.CapInh, c.CapAmb)
	}
	switch {
	case c.CapBnd != 0 && bounding:
		add("bounding set %s: want none", c.CapBnd)
	case c.CapBnd != 0:
		notes = append(notes, fmt.Sprintf("bounding set not empty (%d capabilities; dropping it needs CAP_SETPCAP): harmless while no_new_privs is set and exec is denied", len(c.CapBnd.Names())))
	}
	if len(c.Groups) > 0 {
		notes = append(notes, fmt.Sprintf("keeps supplementary groups %v (dropping them needs root)", c.Groups))
	}
	return problems, notes
}
