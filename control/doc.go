// Package control is the control process's edge (`lethe serve`): the
// WebSocket signaling server at /v1/signal, WHIP ingest and WHEP playback
// at /v1/whip and /v1/whep (sessions driven over HTTP, admitted and
// hosted exactly like WebSocket clients; whip.go), admission of participants
// (tokens, privileges, per-room limits, withdrawn tokens, operator
// blocks), the room registry the admin API reads, and the pool of media
// worker processes it spawns and relays sessions to. It never holds media:
// no RTP packet reaches this process, and of a worker's output it logs
// lines, but of a crash report only one line with function names
// (crashLog), since a dump comes from the media process's memory.
//
// A removed user's tokens are withdrawn in the registry's memory and, so
// that a restart does not let them back in, through Withdrawals (the
// store), as keyed hashes, until they expire.
//
// Which side is the truth: the control process is the truth for admission
// — who is admitted to which room in which role, with which token and
// which operator blocks — because it must decide before a worker is
// involved. The worker is the truth for what happens in the room: the
// participant ids the SFU gives, the tracks published. The registry keeps
// the worker's latest signaling.State of each session (sent on every
// change over the worker's IPC link, never read out of relayed client
// messages) only to answer the admin API's room listing.
//
// In front of every endpoint of the control process (signaling, admin API,
// attestation, web page, dev tokens) HostGuard refuses requests whose Host
// header names a host that is not allowed, which defeats DNS rebinding. The
// signaling edge caps its connections, in total and per remote address,
// and reports misbehaving clients through a rate-limited log
// (internal/ratelog), so that no client can flood it.
package control
