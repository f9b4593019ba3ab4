// Package compliance holds the mechanisms behind Lethe's no-storage promise
// that can be checked by a machine, and the tools that check them.
//
// # What it enforces
//
// LockDownWorker is called by the media worker before it opens any socket.
// It sets no_new_privs on every thread, applies a Landlock ruleset to every
// thread that allows reading only its own /proc/<pid> (for its own
// measurements), executing nothing and writing only /dev/null, proves
// that creating a file in the usual writable places and opening "/" or the
// control process's data dir and store files fail (as root, so that the
// EACCES is Landlock's, not the files' modes), then gives up root for an
// unprivileged user and every capability, bounding set included, turns off
// dumpability (PR_SET_DUMPABLE=0) and core dumps (RLIMIT_CORE=0), and locks
// its memory (mlockall, so that no page can reach swap) where that cannot
// make a later allocation fail: with RLIMIT_MEMLOCK unlimited, or else by
// keeping CAP_IPC_LOCK, its one capability then. Memory it cannot lock is
// reported, not fatal. Once its sockets are open, LockDownSyscalls
// installs a seccomp filter (go-seccomp-bpf) that answers exec,
// memfd_create, io_uring, ptrace, process_vm_*, the mount family,
// swapon/off, bpf, userfaultfd, handle opens, kexec, modules, perf, the
// keyring, personality and namespace calls with EPERM, plus a filter
// refusing calls through a foreign ABI, probes a set of those calls before
// and after, and seals the filesystem with a second Landlock ruleset that
// leaves only /dev/null (and, below Landlock ABI 8, the listing of its
// own threads): from then on the worker can read no file at all.
//
// LockDownControl locks the control process to writing its data dir (and
// /dev/null) only, with the same dumpability, core and no_new_privs
// measures, and probes that writing outside fails while writing inside
// works. Below Landlock ABI 8 it re-executes the process so that all its
// threads share one Landlock domain (see there); otherwise the workers it
// spawns could not be inspected by it. LockDownControlSyscalls then gives
// it the worker's seccomp deny list but exec, which it needs to spawn its
// workers; they inherit the filter beneath their own.
//
// Each lock-down returns a Report of what was measured afterwards, not what
// was asked for; the process refuses to run unless every probe gave the
// required answer, or the operator explicitly accepted a degraded mode,
// which the Report then shows.
//
// # What it measures
//
// WritableFiles, NoNewPrivs, CoreLimit, SeccompState, Credentials, Dumpable
// and MeasureProcess inspect another process from outside through /proc, so
// that end-to-end tests, the attestation and the compliance verifier do not
// have to trust a process's own word; ReadIO, ReadStat, Children,
// Descendants and Ancestry give the verifier the rest of what it reads
// there. This is the project's one /proc reader: the parsers are strict
// (a file of an unexpected shape is ErrMalformed, never a zero) and use
// nothing beyond the standard library and x/sys, since the media worker
// runs this package for its own lock-down. Dumpable does not just read a flag:
// from a thread that has taken the target's ids and dropped CAP_SYS_PTRACE,
// it asks the kernel for ptrace read access (get_robust_list(2)), which a
// non-dumpable process refuses. Its tests hold a positive and a negative
// control for each answer.
//
// Attest (served by AttestationHandler) measures, when asked, every process
// of a running server: seccomp mode and filter count, no_new_privs,
// dumpability, core limit, locked memory, writable files, uids, gids,
// groups and capability sets (Credentials) and the SHA-256 of the binary
// each runs, plus swap and the kernel's Landlock ABI, and sets them beside
// each process's own Report (Landlock rules and self-probes, which cannot
// be read from outside). It judges each process by the measurements; a
// Report cannot vouch for what is measured.
// AttestationHandler serves anyone its Summary (what is enforced, yes or
// no, per process role) and the full Attestation, whose pids, paths and
// file names say where the data dir is and where diagnostics go, only to
// a request bearing one of the keys it was given (the admin key, the
// auditor key).
//
// Every report, the Report, the Attestation and compliance/verify's, gives
// its reasons as Findings: problems, which break the promise, and notes,
// which do not.
//
// # What it cannot prove
//
//   - Landlock governs opening and creating paths. A process can still write
//     through file descriptors it held before the lock-down, through
//     descriptors passed to it over a socket, or to a peer process (the
//     control process, a pipe, the network); those channels have to be
//     checked where they end. WritableFiles catches the first two only while
//     the descriptor is open, and misses writable shared mappings whose
//     descriptor was closed.
//   - The kernel offers no way to read a Landlock ruleset back: the rules in
//     a Report are those the process gave the kernel; the probes show that
//     they bite, in the probed places, at the time of the probe.
//   - Below Landlock ABI 3, truncate(2) by path is not restricted. The kernel
//     itself, swap (unless mlockall), hibernation, a hypervisor and a root
//     user on the host are outside the reach of any in-process mechanism:
//     encrypted or disabled swap is a host setting.
//   - The seccomp filter is a deny list: a system call added to the kernel
//     later is allowed until it is listed.
//   - Landlock does not govern stat(2), path walks or a directory's
//     existence: a worker could learn that a path exists, and its size and
//     times, where the file modes let its user look. Its unprivileged user
//     is what keeps it out of a data dir of mode 0700.
//   - A worker shares its uid (nobody by default) with whatever else runs
//     as that user, which may signal it (it is not dumpable, so they cannot
//     trace it or read its /proc entry); a dedicated user avoids that.
//   - From outside, a dumpable value of 2 (fs.suid_dumpable=2) looks like 0,
//     and processes of another user (for a non-root caller), with mixed
//     real/effective/saved ids, or in another user namespace cannot be judged
//     (ErrCannotTell).
//
// The package is Linux only.
package compliance
