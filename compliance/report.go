package compliance

// LockOptions tunes LockDownWorker.
type LockOptions struct {
	// AllowUnenforced is the operator's explicit degraded mode: when a
	// measure or a probe fails, LockDownWorker returns the Report with
	// Enforced=false and Warnings filled instead of an error.
	AllowUnenforced bool
	// ExtraProbeDirs are probed in addition to os.TempDir(), the working
	// directory and /dev/shm. Each must exist: a probe that fails for any
	// reason other than EACCES (ENOENT included) counts as failed.
	ExtraProbeDirs []string
}

// Report is what LockDownWorker measured after applying the lock-down. Every
// field is read back from the kernel; none is copied from what was requested.
// It is sent over IPC and shown by the attestation endpoint.
type Report struct {
	// Enforced is true only when every measure took effect and every probe
	// was denied with EACCES.
	Enforced bool `json:"enforced"`
	// LandlockABI is the kernel's Landlock ABI version (0: none).
	LandlockABI int `json:"landlockABI"`
	// LandlockApplied is true when the kernel accepted a non-empty Landlock
	// ruleset for all threads. The probes are the proof that it bites.
	LandlockApplied bool `json:"landlockApplied"`
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
	// Warnings say what failed, one line each; empty when Enforced.
	Warnings []string `json:"warnings,omitempty"`
}

// Probe is one attempt to create a file in a directory after the lock-down.
type Probe struct {
	// Path is the directory probed.
	Path string `json:"path"`
	// Denied is true only when the create failed with EACCES.
	Denied bool `json:"denied"`
	// Errno is the symbolic errno of the failed create ("EACCES",
	// "ENOENT", ...), "" if the create succeeded, or the error text if it
	// was not an errno.
	Errno string `json:"errno"`
}
