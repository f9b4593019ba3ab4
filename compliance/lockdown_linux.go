package compliance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// probePrefix names the files the self-probe tries to create.
const probePrefix = ".lethe-probe-"

// The access rights of go-landlock's canned rules, which it keeps private;
// TestCannedAccess keeps them in step.
const (
	accessRead      = landlock.AccessFSSet(ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSReadDir)
	accessWrite     = landlock.AccessFSSet(ll.AccessFSWriteFile | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock | ll.AccessFSMakeSym | ll.AccessFSTruncate)
	accessReadWrite = accessRead | accessWrite
	accessFile      = landlock.AccessFSSet(ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSReadFile)
)

// pathRule is one Landlock grant and, for the report, what it grants and
// why.
type pathRule struct {
	path   string
	rule   func(paths ...string) landlock.FSRule
	access landlock.AccessFSSet
	why    string
}

func readDirs(path string) pathRule { return pathRule{path, landlock.RODirs, accessRead, ""} }

// readOnlyDirs grants reading without executing: the worker runs no
// program.
func readOnlyDirs(path, why string) pathRule {
	const noExec = accessRead &^ ll.AccessFSExecute
	return pathRule{path, func(paths ...string) landlock.FSRule { return landlock.PathAccess(noExec, paths...) }, noExec, why}
}

func writeDirs(path string) pathRule { return pathRule{path, landlock.RWDirs, accessReadWrite, ""} }
func writeFile(path string) pathRule {
	return pathRule{path, landlock.RWFiles, accessReadWrite & accessFile, ""}
}

// lockSpec is what one role's lock-down does.
type lockSpec struct {
	role            string
	rules           []pathRule
	denyDirs        []string // creates there must fail with EACCES
	allowDirs       []string // creates there must succeed
	readProbes      []string // opening them for reading must fail with EACCES
	mlock           bool
	allowUnenforced bool
	// dropPrivileges: give up root and every capability (the worker);
	// user is whom to become when started as root.
	dropPrivileges bool
	user           *User
	parentDeath    syscall.Signal
	// landlockDone: the ruleset was enforced before a re-exec
	// (LockDownControl); it is not applied again.
	landlockDone bool
	// failed are failures of what ran before lockDown.
	failed []string
}

// landlockConfig is the filesystem part of the newest Landlock ABI that
// go-landlock knows, in best-effort mode so that it degrades on older
// kernels. The self-probe, not this config, says what is enforced.
func landlockConfig() landlock.Config {
	return landlock.Config{HandledAccessFS: landlock.V11.HandledAccessFS}.BestEffort()
}

// handledAt is what landlockConfig handles at Landlock ABI abi.
func handledAt(abi int) landlock.AccessFSSet {
	versions := []landlock.Config{landlock.V1, landlock.V2, landlock.V3, landlock.V4, landlock.V5,
		landlock.V6, landlock.V7, landlock.V8, landlock.V9, landlock.V10, landlock.V11}
	if abi < 1 {
		return 0
	}
	return versions[min(abi, len(versions))-1].HandledAccessFS & landlock.V11.HandledAccessFS
}

// accessNames lists the rights in a ("execute", "read_file", ...).
func accessNames(a landlock.AccessFSSet) []string {
	s := strings.Trim(a.String(), "{}∅")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// LockDownWorker locks the calling process down so that it can read
// nothing but its own /proc/<pid> and write nothing but /dev/null, drops
// its privileges, and then proves it. The media worker calls it before it
// opens any socket. In order, it:
//
//   - sets no_new_privs on every thread;
//   - if opts.Mlock, raises RLIMIT_MEMLOCK to unlimited where it may
//     (CAP_SYS_RESOURCE), else its soft limit to the hard one;
//   - applies Landlock to every thread: read (no execute) only beneath
//     /proc/<pid>, which its own measurements below need, read and write
//     /dev/null, nothing else at all;
//   - tries to create a file in os.TempDir(), the working directory,
//     /dev/shm (if it exists) and opts.ExtraProbeDirs, and to open "/", the
//     working directory and opts.ReadProbes for reading: each must fail
//     with EACCES (a file that does get created is removed and the probe
//     counts as failed). These probes run with the credentials the process
//     started with — as root, permissions on files decide nothing, so an
//     EACCES is Landlock's;
//   - drops its privileges (see PrivilegeReport): a process started as
//     root must be given opts.User and becomes it, with no supplementary
//     group; every capability goes, bounding set included, except
//     CAP_IPC_LOCK when opts.Mlock needs it because RLIMIT_MEMLOCK could
//     not be raised to unlimited; the parent-death signal, which the
//     kernel clears with the ids, is set again (opts.ParentDeathSignal);
//   - sets PR_SET_DUMPABLE=0 and RLIMIT_CORE=0 (soft and hard);
//   - if opts.Mlock, calls mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT),
//     but only where that cannot make a later allocation fail: with
//     RLIMIT_MEMLOCK unlimited or CAP_IPC_LOCK. Otherwise, or if mlockall
//     fails, the memory stays unlocked, which Report.Mlock and a note say,
//     and the kept capability is dropped: not locking is loud, not fatal.
//
// The Report holds what was measured afterwards. If anything failed, it
// returns the Report and an error matching ErrNotEnforced naming every
// failure, unless opts.AllowUnenforced, in which case the error is nil and
// the failures are in Report.Problems with Enforced=false.
//
// Landlock cannot be undone, nor can the privileges be regained: a process
// that called LockDownWorker, and its children, stay locked down for
// good. LockDownSyscalls completes it once the worker's sockets are open.
func LockDownWorker(opts LockOptions) (Report, error) {
	ownProc := procDir(os.Getpid())
	reads := []string{"/"}
	if wd, err := os.Getwd(); err == nil {
		reads = append(reads, wd)
	}
	return lockDown(lockSpec{
		role:            RoleWorker,
		rules:           []pathRule{readOnlyDirs(ownProc, "its own measurements during the lock-down; dropped by LockDownSyscalls"), writeFile(os.DevNull)},
		denyDirs:        probeDirs(opts.ExtraProbeDirs),
		readProbes:      uniquePaths(append(reads, opts.ReadProbes...)),
		mlock:           opts.Mlock,
		allowUnenforced: opts.AllowUnenforced,
		dropPrivileges:  true,
		user:            opts.User,
		parentDeath:     opts.ParentDeathSignal,
	})
}

// LockDownControl locks the control process down so that it can write only
// beneath opts.DataDir and to /dev/null, then proves it. serve calls it
// first thing, before it opens its store, spawns workers or serves.
//
// Besides the writes it keeps, the process can read and execute every file
// (it spawns workers from its own binary), and it keeps its sockets, pipes
// and the descriptors it already holds: Landlock governs paths opened after
// it. It sets no_new_privs on every thread, PR_SET_DUMPABLE=0 and
// RLIMIT_CORE=0, all inherited by the workers it spawns. The self-probe
// must fail with EACCES in os.TempDir(), the working directory, /dev/shm,
// the data dir's parent and opts.ExtraProbeDirs (those beneath the data
// dir are skipped), and must succeed in the data dir, which is created
// (mode 0700) if missing.
//
// # Re-exec
//
// Below Landlock ABI 8 the kernel cannot put all threads of a process into
// one Landlock domain: restricting each thread gives each its own, and a
// domain may only ptrace (and read /proc/<pid>/exe, fd, ... of) processes
// in its own domain or beneath it. Workers spawned from one thread would
// then be opaque to the attestation running on another. So on those
// kernels LockDownControl restricts only the calling thread and
// re-executes the process image (/proc/self/exe, same arguments, same pid)
// with ControlLandlockEnv set to the data dir: the new image starts with
// that one thread and every thread it makes shares its domain. In the new
// image the same call finds the variable, removes it, and goes on with the
// rest of the lock-down and the probes. On success of the re-exec it never
// returns: everything the process did before the call is done again, so
// call it before anything with effects outside the process. A variable set
// by anyone else proves nothing: the probes fail if Landlock is not there.
//
// Errors and AllowUnenforced are as for LockDownWorker; an empty DataDir
// is an error in any case.
func LockDownControl(opts ControlOptions) (Report, error) {
	if opts.DataDir == "" {
		return Report{}, errors.New("lockdown: control: no data dir")
	}
	data, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return Report{}, fmt.Errorf("lockdown: control: %w", err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return Report{}, fmt.Errorf("lockdown: control: data dir: %w", err)
	}
	if fi, err := os.Stat(data); err != nil {
		return Report{}, fmt.Errorf("lockdown: control: data dir: %w", err)
	} else if !fi.IsDir() {
		return Report{}, fmt.Errorf("lockdown: control: data dir %s is not a directory", data)
	}
	candidates := append(probeDirs(opts.ExtraProbeDirs), filepath.Dir(data))
	var deny []string
	for _, d := range candidates {
		if abs, err := filepath.Abs(d); err == nil && !within(abs, data) && !containsPath(deny, abs) {
			deny = append(deny, abs)
		}
	}
	spec := lockSpec{
		role:            RoleControl,
		rules:           []pathRule{readDirs("/"), writeDirs(data), writeFile(os.DevNull)},
		denyDirs:        deny,
		allowDirs:       []string{data},
		allowUnenforced: opts.AllowUnenforced,
	}
	if abi, err := ll.LandlockGetABIVersion(); err == nil && abi >= 1 && abi < 8 {
		if v, ok := os.LookupEnv(ControlLandlockEnv); ok {
			_ = os.Unsetenv(ControlLandlockEnv)
			if v != data {
				return Report{}, fmt.Errorf("lockdown: control: %s names another data dir (%s)", ControlLandlockEnv, v)
			}
			spec.landlockDone = true
		} else {
			err := restrictThreadAndReexec(spec.rules, data) // returns only on failure
			spec.failed = append(spec.failed, fmt.Sprintf("landlock: re-exec in one domain: %v", err))
			spec.landlockDone = true // or half done: not again, the probes tell
		}
	}
	return lockDown(spec)
}

// ControlLandlockEnv is set by LockDownControl for its re-executed image
// (see there) to the data dir whose ruleset it enforced.
const ControlLandlockEnv = "LETHE_CONTROL_LANDLOCK"

// restrictThreadAndReexec enforces the rules on the calling OS thread only
// and replaces the process image from that thread. It returns only if
// something failed; the thread stays locked, so that the Go runtime
// retires it if the ruleset was enforced on it.
func restrictThreadAndReexec(spec []pathRule, data string) error {
	cfg := landlockConfig()
	rules := make([]landlock.Rule, 0, len(spec))
	for _, pr := range spec {
		rules = append(rules, pr.rule(pr.path))
	}
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return err
	}
	if fd < 0 {
		return errors.New("ruleset degraded to nothing at this kernel's ABI")
	}
	defer unix.Close(fd)
	runtime.LockOSThread() // never unlocked: exec replaces it, or the runtime retires it
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
		return fmt.Errorf("landlock_restrict_self: %w", err)
	}
	env := append(os.Environ(), ControlLandlockEnv+"="+data)
	if err := syscall.Exec("/proc/self/exe", os.Args, env); err != nil {
		return fmt.Errorf("exec /proc/self/exe: %w", err)
	}
	return nil
}

// within reports whether path is root or beneath it (both absolute, clean).
func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func containsPath(list []string, p string) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

// lockDown applies spec to the calling process and measures the result.
func lockDown(spec lockSpec) (Report, error) {
	r := Report{Role: spec.role}
	failed := append([]string(nil), spec.failed...)
	fail := func(format string, args ...any) {
		failed = append(failed, fmt.Sprintf(format, args...))
	}

	// 1. no_new_privs, on every thread at once.
	if _, _, errno := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); errno != 0 {
		fail("set no_new_privs: %v", errno)
	}
	// What needs reading outside the Landlock rules, before they exist.
	if swaps, err := os.ReadFile("/proc/swaps"); err != nil {
		fail("read /proc/swaps: %v", err)
	} else if r.Swap, err = parseSwaps(swaps); err != nil {
		fail("read /proc/swaps: %v", err)
	}
	var mem memlockPlan
	if spec.mlock {
		mem = planMemlock()
	}

	// 2. Landlock.
	if abi, err := ll.LandlockGetABIVersion(); err == nil {
		r.LandlockABI = abi
	}
	if r.LandlockABI < 1 {
		fail("landlock: not supported by this kernel")
	} else {
		applied := spec.landlockDone
		if !applied {
			var err error
			applied, err = applyLandlock(spec.rules)
			if err != nil {
				fail("landlock: %v", err)
			}
		}
		r.LandlockApplied = applied && len(spec.failed) == 0
		if r.LandlockApplied {
			handled := handledAt(r.LandlockABI)
			r.LandlockHandled = accessNames(handled)
			r.LandlockRules = reportRules(spec.rules, handled)
		}
	}

	// 3. Self-probe, with the credentials the process started with.
	probe := func(dir string, mustAllow bool) {
		p, rmErr := probeCreate(dir)
		p.MustAllow = mustAllow
		r.Probes = append(r.Probes, p)
		if rmErr != nil {
			fail("probe: could not remove the file it created in %s: %v", dir, rmErr)
		}
		switch {
		case p.Passed():
		case mustAllow:
			fail("probe: create in %s failed with %s: the process cannot write where it must", dir, p.Errno)
		case p.Errno == "":
			fail("probe: created a file in %s: writes are not blocked", dir)
		default:
			fail("probe: create in %s failed with %s, want EACCES", dir, p.Errno)
		}
	}
	for _, dir := range spec.denyDirs {
		probe(dir, false)
	}
	for _, dir := range spec.allowDirs {
		probe(dir, true)
	}
	for _, path := range spec.readProbes {
		p := probeRead(path)
		r.ReadProbes = append(r.ReadProbes, p)
		if !p.Passed() {
			fail("read probe: %s", p.failure())
		}
	}

	// 4. Privileges.
	if spec.dropPrivileges {
		if spec.user == nil && unix.Geteuid() == 0 {
			fail("privileges: running as root and given no user to become")
		}
		var keep CapSet
		if mem.keepIPCLock {
			keep = 1 << capIPCLock
		}
		pr, f, notes := dropPrivileges(spec.user, keep, int(spec.parentDeath))
		if pr.Kept != 0 {
			pr.KeptWhy = mem.why
		}
		r.Privileges = &pr
		failed = append(failed, f...)
		r.Notes = append(r.Notes, notes...)
	}

	// 5. No core dumps, no ptrace/proc access by same-uid processes (after
	// the privilege drop: a change of ids resets dumpability).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fail("set dumpable=0: %v", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		fail("set RLIMIT_CORE=0: %v", err)
	}

	// 6. Memory that cannot be swapped out, if asked.
	if spec.mlock {
		m := mem.lock()
		r.Mlock = &m
		if !m.Locked {
			r.Notef("memory NOT locked, media could be swapped out where there is swap: %s", m.Reason)
			if r.Privileges != nil && r.Privileges.Kept != 0 {
				if err := setCapabilities(0); err != nil {
					fail("privileges: dropping %s after mlockall failed: %v", r.Privileges.Kept, err)
				} else {
					r.Privileges.Kept, r.Privileges.KeptWhy = 0, ""
					if c, err := Credentials(os.Getpid()); err == nil {
						r.Privileges.Creds = c
					}
				}
			}
		}
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
	return finish(r, failed, spec.allowUnenforced)
}

// reportRules are the rules as the Report shows them: with the rights that
// remain at this kernel's ABI.
func reportRules(spec []pathRule, handled landlock.AccessFSSet) []PathRule {
	out := make([]PathRule, 0, len(spec))
	for _, pr := range spec {
		out = append(out, PathRule{Path: pr.path, Access: accessNames(pr.access & handled), Why: pr.why})
	}
	return out
}

// finish adds failed to the Problems, sets Enforced and decides the error.
func finish(r Report, failed []string, allowUnenforced bool) (Report, error) {
	r.Problems = append(r.Problems, failed...)
	r.Enforced = r.OK()
	if r.Enforced || allowUnenforced {
		return r, nil
	}
	return r, fmt.Errorf("lockdown: %w: %s", ErrNotEnforced, strings.Join(failed, "; "))
}

// applyLandlock enforces the rules on all threads. It reports whether a
// non-empty ruleset was accepted by the kernel: in best-effort mode
// go-landlock silently does nothing when the rules cannot be expressed at
// the kernel's ABI, so that is checked first with a ruleset that is built
// but not enforced.
func applyLandlock(spec []pathRule) (bool, error) {
	cfg := landlockConfig()
	rules := make([]landlock.Rule, 0, len(spec))
	for _, pr := range spec {
		rules = append(rules, pr.rule(pr.path))
	}
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

// probeRead tries to open path for reading (a directory too: listing it
// needs the same); the probe is denied only if that fails with EACCES.
func probeRead(path string) Probe {
	p := Probe{Path: path}
	f, err := os.Open(path)
	if err == nil {
		_ = f.Close()
		return p
	}
	p.Errno = errnoName(err)
	p.Denied = errors.Is(err, unix.EACCES)
	return p
}

// failure says why a read probe that did not pass failed.
func (p Probe) failure() string {
	if p.Errno == "" {
		return fmt.Sprintf("opened %s for reading: reads are not blocked", p.Path)
	}
	return fmt.Sprintf("opening %s for reading failed with %s, want EACCES", p.Path, p.Errno)
}

// uniquePaths cleans paths and drops repeats, keeping the order.
func uniquePaths(paths []string) []string {
	seen := make(map[string]bool, len(paths))
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
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
