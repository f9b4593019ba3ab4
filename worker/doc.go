// Package worker is the media worker process (`lethe worker`, spawned by
// the control process over a socketpair). Run locks the process down
// (Landlock with no writable path, no core dumps, seccomp) before it opens
// its media socket, starts the SFU, and hosts the sessions the control
// process opens: Host turns their relayed client messages into calls on
// the SFU and the SFU's events into messages and signaling.State frames
// back.
//
// It is the only package that imports the SFU, and, with what it imports,
// the only code that holds media. A test keeps the store, SQLite,
// database/sql, token verification (auth) and debug servers (pprof,
// expvar) out of its dependencies.
package worker
