package compliance

import "syscall"

// LockOptions tunes LockDownWorker and LockDownSyscalls.
type LockOptions struct {
	// AllowUnenforced is the operator's explicit degraded mode: when a
	// measure or a probe fails, LockDownWorker returns the Report with
	// Enforced=false and its Problems instead of an error.
	AllowUnenforced bool
	// ExtraProbeDirs are probed in addition to os.TempDir(), the working
	// directory and /dev/shm. Each must exist: a probe that fails for any
	// reason other than EACCES (ENOENT included) counts as failed.
	ExtraProbeDirs []string
	// ReadProbes are paths the process must be unable to open for reading
	// (the control process passes its data dir and the store's files), in
	// addition to "/" and the working directory. Each must exist: only
	// EACCES passes.
	ReadProbes []string
	// ParentDeathSignal is the signal the worker was started to receive when
	// its parent dies (exec.Cmd's Pdeathsig). The kernel clears it when the
	// ids change, and only the thread that was forked had it; the
	// privilege drop sets it on every thread. 0: keep the calling thread's.
	ParentDeathSignal syscall.Signal
	// User is whom a worker started as root becomes. A worker started as
	// root without one refuses to lock down; one started as another user
	// keeps its ids, and User must be nil or those ids.
	User *User
	// Mlock asks for mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT), so that
	// no page the process touches can be swapped out, where that is safe
	// (see LockDownWorker). Memory that cannot be locked is reported in
	// Report.Mlock and a note, not as a failure.
	Mlock bool
}

// ControlOptions tunes LockDownControl.
type ControlOptions struct {
	// DataDir is the only directory the control process may write to
	// (besides /dev/null). It must exist.
	DataDir string
	// AllowUnenforced: as in LockOptions.
	AllowUnenforced bool
	// ExtraProbeDirs are probed, besides os.TempDir(), the working
	// directory, /dev/shm and the data dir's parent; a directory inside
	// the data dir is skipped.
	ExtraProbeDirs []string
}

// Roles of the processes that lock themselves down.
const (
	RoleControl = "control"
	RoleWorker  = "worker"
)

// Report is what a lock-down measured after applying it. Every field is read
// back from the kernel, except LandlockRules: the kernel offers no way to
// read a Landlock ruleset back, so they are the rules the process gave it,
// and the Probes are the proof that they bite. It is sent over IPC and shown
// by the attestation endpoint.
type Report struct {
	// Role is RoleWorker or RoleControl.
	Role string `json:"role,omitempty"`
	// Enforced is true only when every measure took effect and every probe
	// gave the expected answer.
	Enforced bool `json:"enforced"`
	// LandlockABI is the kernel's Landlock ABI version (0: none).
	LandlockABI int `json:"landlockABI"`
	// LandlockApplied is true when the kernel accepted a non-empty Landlock
	// ruleset for all threads. The probes are the proof that it bites.
	LandlockApplied bool `json:"landlockApplied"`
	// LandlockHandled are the access rights the ruleset governs at this
	// kernel's ABI: any of them not granted by a rule is denied everywhere.
	LandlockHandled []string `json:"landlockHandled,omitempty"`
	// LandlockRules are the grants, with the rights that remain at this
	// kernel's ABI.
	LandlockRules []PathRule `json:"landlockRules,omitempty"`
	// LandlockSealRules are the grants of the second ruleset a worker
	// stacks on the first once its lock-down is complete (LockDownSyscalls):
	// from then on a path is reachable only if both allow it. Empty until
	// then, and in the control process.
	LandlockSealRules []PathRule `json:"landlockSealRules,omitempty"`
	// LandlockSealed: the worker's second ruleset was accepted.
	LandlockSealed bool `json:"landlockSealed,omitempty"`
	// NoNewPrivs is read back from /proc/self/task/*/status: true only if
	// every thread has it.
	NoNewPrivs bool `json:"noNewPrivs"`
	// Dumpable is prctl(PR_GET_DUMPABLE) != 0.
	Dumpable bool `json:"dumpable"`
	// CoreLimitSoft and CoreLimitHard are getrlimit(RLIMIT_CORE);
	// unlimited is math.MaxUint64.
	CoreLimitSoft uint64 `json:"coreLimitSoft"`
	CoreLimitHard uint64 `json:"coreLimitHard"`
	// Probes are the self-probe attempts, one per directory.
	Probes []Probe `json:"probes"`
	// ReadProbes are the attempts to open paths for reading that must fail
	// (the worker's): the root and working directories, the control
	// process's data dir and store files, and after the seal its own
	// /proc/<pid>/status.
	ReadProbes []Probe `json:"readProbes,omitempty"`
	// Privileges is what the worker's privilege drop did; nil in the
	// control process.
	Privileges *PrivilegeReport `json:"privileges,omitempty"`
	// Mlock is the result of mlockall; nil when not asked for.
	Mlock *MlockReport `json:"mlock,omitempty"`
	// Swap lists the active swap areas of /proc/swaps at lock-down time;
	// empty when there is none.
	Swap []string `json:"swap"`
	// Seccomp is set by LockDownSyscalls (LockDownControlSyscalls in the
	// control process); nil before.
	Seccomp *SeccompReport `json:"seccomp,omitempty"`
	// Findings: the Problems say what failed, one line each, none when
	// Enforced.
	Findings
}

// PathRule is one Landlock grant: the rights allowed beneath Path.
type PathRule struct {
	Path   string   `json:"path"`
	Access []string `json:"access"`
	// Why the grant is there, where it is not obvious.
	Why string `json:"why,omitempty"`
}

// Probe is one attempt to create a file in a directory, or (ReadProbes) to
// open a path for reading, after the lock-down.
type Probe struct {
	// Path is the directory (or, for a read probe, the path) probed.
	Path string `json:"path"`
	// MustAllow marks a probe of a directory the process must still be
	// able to write (the control process's data dir): it passes when the
	// create succeeded. Otherwise the probe passes only when Denied.
	MustAllow bool `json:"mustAllow,omitempty"`
	// Denied is true only when the attempt failed with EACCES.
	Denied bool `json:"denied"`
	// Errno is the symbolic errno of the failed attempt ("EACCES",
	// "ENOENT", ...), "" if the create succeeded, or the error text if it
	// was not an errno.
	Errno string `json:"errno"`
}

// Passed says whether the probe gave the answer the lock-down requires.
func (p Probe) Passed() bool {
	if p.MustAllow {
		return p.Errno == ""
	}
	return p.Denied
}

// MlockReport is what mlockall did.
type MlockReport struct {
	// Locked is true when mlockall succeeded.
	Locked bool `json:"locked"`
	// Reason says why the memory is not locked; "" when it is.
	Reason string `json:"reason,omitempty"`
	// Errno is the symbolic errno of a failed mlockall ("ENOMEM": over
	// RLIMIT_MEMLOCK, "EPERM": not allowed), "" on success or when it was
	// not tried.
	Errno string `json:"errno,omitempty"`
	// LimitBytes is RLIMIT_MEMLOCK (soft) after the lock-down raised it;
	// unlimited is math.MaxUint64.
	LimitBytes uint64 `json:"limitBytes"`
	// WithCapability: the lock holds through CAP_IPC_LOCK, which the
	// worker kept because the limit could not be raised to unlimited.
	WithCapability bool `json:"withCapability,omitempty"`
	// VmLckKB is VmLck of /proc/self/status afterwards, in KiB.
	VmLckKB uint64 `json:"vmLckKB"`
}

// SeccompReport is what LockDownSyscalls installed and measured.
type SeccompReport struct {
	// Mode and Filters are the weakest "Seccomp" and "Seccomp_filters"
	// over all threads in /proc/self/task/*/status after the install:
	// mode 2 is filtering.
	Mode    int `json:"mode"`
	Filters int `json:"filters"`
	// InheritedFilters were in force before the install (a worker
	// inherits the control process's).
	InheritedFilters int `json:"inheritedFilters,omitempty"`
	// Denied are the system calls the filter answers with EPERM.
	Denied []string `json:"denied"`
	// NotOnThisArch are listed system calls this architecture does not
	// have.
	NotOnThisArch []string `json:"notOnThisArch,omitempty"`
	// ForeignArchDenied is true when a second filter answers every system
	// call made through another ABI (on x86-64: int 0x80) with EPERM, so
	// that the list cannot be bypassed by number.
	ForeignArchDenied bool `json:"foreignArchDenied"`
	// Probes try some denied calls, with harmless arguments, before and
	// after the install.
	Probes []SyscallProbe `json:"probes"`
}

// SyscallProbe is one system call tried before and after the filter.
type SyscallProbe struct {
	Syscall string `json:"syscall"`
	// Before and After are the symbolic errnos ("" for success).
	Before string `json:"before"`
	After  string `json:"after"`
	// Denied: After is EPERM.
	Denied bool `json:"denied"`
	// MustAllow marks a call the process needs (the control process's
	// execve): it passes when After is not EPERM.
	MustAllow bool `json:"mustAllow,omitempty"`
	// Conclusive: Before was not EPERM, so the EPERM after is the
	// filter's doing.
	Conclusive bool `json:"conclusive"`
}
