package compliance

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memlockPlan is what the lock-down may do about locking memory, decided
// before the privilege drop.
type memlockPlan struct {
	limit       uint64 // RLIMIT_MEMLOCK (soft) after raising it
	keepIPCLock bool   // lock with CAP_IPC_LOCK, kept through the drop
	why         string // why the capability is kept
	cannot      string // why the memory cannot be locked; "" if it can
}

// planMemlock raises RLIMIT_MEMLOCK to unlimited if the process may
// (CAP_SYS_RESOURCE), otherwise its soft limit to the hard one, and
// decides how the memory can be locked.
//
// mlockall(MCL_FUTURE) makes every later mapping count against the limit
// as a whole, and the Go runtime maps far more address space than it
// touches (some 2 GB for a worker, growing with its heap): under any finite
// limit an allocation would fail some day, and the runtime dies of it.
// So memory is locked only with the limit unlimited, or with CAP_IPC_LOCK,
// which ignores the limit: a worker started as root keeps that one
// capability (and no other) when the limit cannot be raised.
func planMemlock() memlockPlan {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return memlockPlan{cannot: fmt.Sprintf("getrlimit(RLIMIT_MEMLOCK): %v", err)}
	}
	if lim.Cur != unix.RLIM_INFINITY || lim.Max != unix.RLIM_INFINITY {
		inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
		if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf) == nil {
			lim = inf
		} else if lim.Cur < lim.Max {
			up := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
			if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &up) == nil {
				lim = up
			}
		}
	}
	p := memlockPlan{limit: lim.Cur}
	if lim.Cur == unix.RLIM_INFINITY {
		return p
	}
	eff, _, err := capabilities()
	switch {
	case err == nil && eff.Has(capIPCLock):
		p.keepIPCLock = true
		p.why = fmt.Sprintf("mlockall: RLIMIT_MEMLOCK is %s and cannot be raised here (no CAP_SYS_RESOURCE)", limitText(lim.Cur))
	default:
		p.cannot = fmt.Sprintf("RLIMIT_MEMLOCK is %s: a locked worker's allocations would fail once its address space outgrows it;"+
			" raise the limit to unlimited (ulimit -l unlimited, systemd LimitMEMLOCK=infinity) or start lethe serve as root", limitText(lim.Cur))
	}
	return p
}

// lock calls mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) if the plan
// allows: every page mapped now or later is locked in memory as soon as
// it is touched, so nothing the process holds can be written to swap.
// MCL_ONFAULT keeps the Go runtime's large reservations from being
// populated up front; a page holding media is touched before it holds
// media, so it is locked by then.
func (p memlockPlan) lock() MlockReport {
	m := MlockReport{LimitBytes: p.limit, WithCapability: p.keepIPCLock}
	if p.cannot != "" {
		m.Reason = p.cannot
	} else if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
		m.Errno = errnoName(err)
		m.Reason = "mlockall: " + m.Errno
		m.WithCapability = false
	} else {
		m.Locked = true
	}
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		m.VmLckKB, _ = parseKB(st, "VmLck")
	}
	return m
}

// limitText is a byte limit for people: "unlimited" or "8192 KiB".
func limitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprintf("%d KiB", v>>10)
}
