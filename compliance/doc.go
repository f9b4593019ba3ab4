// Package compliance holds the mechanisms behind Lethe's no-storage promise
// that can be checked by a machine, and the tools that check them.
//
// # What it proves
//
// LockDownWorker is called by the media worker before it opens any socket.
// It sets no_new_privs on every thread, applies a Landlock ruleset to every
// thread that allows reading everything and writing only /dev/null, turns
// off dumpability (PR_SET_DUMPABLE=0) and core dumps (RLIMIT_CORE=0), and
// then tries to create a file in the usual writable places. Its Report holds
// what was measured afterwards, not what was asked for; the worker refuses to
// run unless every probe failed with EACCES, or the operator explicitly
// accepted a degraded mode, which the Report then shows.
//
// WritableFiles, NoNewPrivs, CoreLimit and Dumpable inspect another process
// from outside through /proc, so that end-to-end tests and the compliance
// verifier do not have to trust the worker's own word. Dumpable does not
// just read a flag: from a throw-away thread that has taken the target's ids
// and dropped CAP_SYS_PTRACE, it asks the kernel for ptrace read access
// (get_robust_list(2)), which a non-dumpable process refuses. Its tests hold
// a positive and a negative control for each answer.
//
// # What it cannot prove
//
//   - Landlock governs opening and creating paths. A worker can still write
//     through file descriptors it held before the lock-down, through
//     descriptors passed to it over a socket, or to a peer process (the
//     control process, a pipe, the network); those channels have to be
//     checked where they end. WritableFiles catches the first two only while
//     the descriptor is open, and misses writable shared mappings whose
//     descriptor was closed.
//   - Below Landlock ABI 3, truncate(2) by path is not restricted. The kernel
//     itself, swap, hibernation and a root user on the host are outside the
//     reach of any in-process mechanism: encrypted or disabled swap is a host
//     setting.
//   - The self-probe shows that creating files is refused in the probed
//     places at the time of the probe; Landlock's semantics extend that to
//     every path, but the probe cannot visit them all.
//   - From outside, a dumpable value of 2 (fs.suid_dumpable=2) looks like 0,
//     and processes of another user (for a non-root caller), with mixed
//     real/effective/saved ids, or in another user namespace cannot be judged
//     (ErrCannotTell).
//
// The package is Linux only.
package compliance
