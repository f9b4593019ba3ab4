// Package worker is the media worker process (`lethe worker`, spawned by
// the control process over a socketpair). Run locks the process down
// (Landlock with no readable path but its own /proc entry and no writable
// one, an unprivileged user with no capability, no core dumps, locked
// memory) before it opens its media socket, then installs seccomp and
// seals Landlock so that it can read no file at all, starts the SFU, and
// hosts the sessions the control process opens: Host turns their relayed
// client messages into calls on the SFU and the SFU's events into messages
// and signaling.State frames back. Whatever it needs from a file (the time
// zone) it reads before the lock-down.
//
// It is the only package that imports the SFU, and, with what it imports,
// the only code that holds media. A test keeps the store, SQLite,
// database/sql, token verification (auth) and debug servers (pprof,
// expvar) out of its dependencies.
package worker
