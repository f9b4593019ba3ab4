package compliance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// probePrefix names the files the self-probe tries to create.
const probePrefix = ".lethe-probe-"

// landlockConfig is the filesystem part of the newest Landlock ABI that
// go-landlock knows, in best-effort mode so that it degrades on older
// kernels. The self-probe, not this config, says what is enforced.
func landlockConfig() landlock.Config {
	return landlock.Config{HandledAccessFS: landlock.V11.HandledAccessFS}.BestEffort()
}

// landlockRules allow reading (and executing) everything and writing only
// to /dev/null.
func landlockRules() []landlock.Rule {
	return []landlock.Rule{landlock.RODirs("/"), landlock.RWFiles("/dev/null")}
}

// LockDownWorker locks the calling process down so that it can write to no
// file but /dev/null, then proves it. The media worker calls it before it
// opens any socket. In order, it sets no_new_privs on every thread, applies
// Landlock to every thread (read everything, write only /dev/null), sets
// PR_SET_DUMPABLE=0 and RLIMIT_CORE=0 (soft and hard), and then tries to
// create a file in os.TempDir(), the working directory, /dev/shm (if it
// exists) and opts.ExtraProbeDirs; each create must fail with EACCES (a file
// that does get created is removed and the probe counts as failed).
//
// The Report holds what was measured afterwards. If anything failed, it
// returns the Report and an error matching ErrNotEnforced naming every
// failure, unless opts.AllowUnenforced, in which case the error is nil and
// the failures are in Report.Warnings with Enforced=false.
//
// Landlock cannot be undone: a process that called LockDownWorker, and its
// children, stay locked down for good.
func LockDownWorker(opts LockOptions) (Report, error) {
	var r Report
	var failed []string
	fail := func(format string, args ...any) {
		failed = append(failed, fmt.Sprintf(format, args...))
	}

	// 1. no_new_privs, on every thread at once.
	if _, _, errno := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); errno != 0 {
		fail("set no_new_privs: %v", errno)
	}

	// 2. Landlock.
	if abi, err := ll.LandlockGetABIVersion(); err == nil {
		r.LandlockABI = abi
	}
	if r.LandlockABI < 1 {
		fail("landlock: not supported by this kernel")
	} else {
		applied, err := applyLandlock()
		r.LandlockApplied = applied
		if err != nil {
			fail("landlock: %v", err)
		}
	}

	// 3. No core dumps, no ptrace/proc access by same-uid processes.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fail("set dumpable=0: %v", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		fail("set RLIMIT_CORE=0: %v", err)
	}

	// Measure.
	nnp, err := NoNewPrivs(os.Getpid())
	r.NoNewPrivs = nnp
	if err != nil {
		fail("read no_new_privs: %v", err)
	} else if !nnp {
		fail("no_new_privs is not set on every thread")
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil {
		r.Dumpable = true
		fail("read dumpable: %v", err)
	} else if r.Dumpable = d != 0; r.Dumpable {
		fail("process is still dumpable (%d)", d)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil {
		r.CoreLimitSoft, r.CoreLimitHard = unix.RLIM_INFINITY, unix.RLIM_INFINITY
		fail("read RLIMIT_CORE: %v", err)
	} else {
		r.CoreLimitSoft, r.CoreLimitHard = lim.Cur, lim.Max
		if lim.Cur != 0 || lim.Max != 0 {
			fail("RLIMIT_CORE is %d/%d, want 0/0", lim.Cur, lim.Max)
		}
	}

	// 4. Self-probe.
	for _, dir := range probeDirs(opts.ExtraProbeDirs) {
		p, rmErr := probeCreate(dir)
		r.Probes = append(r.Probes, p)
		if rmErr != nil {
			fail("probe: could not remove the file it created: %v", rmErr)
		}
		switch {
		case p.Denied:
		case p.Errno == "":
			fail("probe: created a file in %s: writes are not blocked", dir)
		default:
			fail("probe: create in %s failed with %s, want EACCES", dir, p.Errno)
		}
	}

	r.Enforced = len(failed) == 0
	if r.Enforced {
		return r, nil
	}
	r.Warnings = failed
	if opts.AllowUnenforced {
		return r, nil
	}
	return r, fmt.Errorf("lockdown: %w: %s", ErrNotEnforced, strings.Join(failed, "; "))
}

// applyLandlock enforces the ruleset on all threads. It reports whether a
// non-empty ruleset was accepted by the kernel: in best-effort mode
// go-landlock silently does nothing when the rules cannot be expressed at
// the kernel's ABI, so that is checked first with a ruleset that is built
// but not enforced.
func applyLandlock() (bool, error) {
	cfg, rules := landlockConfig(), landlockRules()
	fd, _, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return false, err
	}
	if fd < 0 {
		return false, errors.New("ruleset degraded to nothing at this kernel's ABI")
	}
	_ = unix.Close(fd)
	if err := cfg.RestrictPaths(rules...); err != nil {
		return false, err
	}
	return true, nil
}

// probeDirs lists the directories to probe, without duplicates.
func probeDirs(extra []string) []string {
	dirs := []string{os.TempDir()}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dirs = append(dirs, "/dev/shm")
	}
	dirs = append(dirs, extra...)
	seen := make(map[string]bool, len(dirs))
	out := dirs[:0]
	for _, d := range dirs {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// probeCreate tries to create a new file in dir; the probe is denied only
// if that fails with EACCES. A file that gets created is removed at once;
// the error is that removal's.
func probeCreate(dir string) (Probe, error) {
	p := Probe{Path: dir}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := filepath.Join(dir, fmt.Sprintf("%s%d-%s", probePrefix, os.Getpid(), hex.EncodeToString(rnd[:])))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		_ = f.Close()
		return p, os.Remove(name)
	}
	p.Errno = errnoName(err)
	p.Denied = errors.Is(err, unix.EACCES)
	return p, nil
}

// errnoName is the symbolic name of err's errno ("EACCES"), or its text.
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return err.Error()
}
