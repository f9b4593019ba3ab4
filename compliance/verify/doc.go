// Package verify is `lethe compliance verify`: evidence, gathered from
// outside the server's processes, that Lethe does not store media.
//
// A run starts `lethe serve` with a fresh data dir (or attaches to a running
// one), fills every media payload it sends — Opus audio, VP8 and H.264
// video, through several rooms — with a random per-run Canary, and watches
// the server meanwhile:
//
//   - a fanotify Watcher with filesystem-wide marks on every writable
//     filesystem records each file written, by any process, and which;
//   - /proc/<pid>/io write_bytes (and wchar) of every server process before
//     and after each run;
//   - /proc/<pid>/fd and fdinfo, sampled, for writable regular files.
//
// Afterwards it scans every file written during the run (from the watcher,
// plus the data dir with its -wal/-shm files and the temp directories), and
// everything the server printed, for the canary in any encoding a Matcher
// knows, at any offset. It runs at two media volumes 10× apart and compares
// the bytes the server wrote to disk. A positive control — a child process
// of the verifier, never of the server, that joins a room and deliberately
// stores and prints the media it receives — must be caught by every
// scanner, or the verdict is FAIL: an instrument that cannot see a leak
// proves nothing.
//
// # E2EE mode
//
// With Config.E2EE (`--e2ee`) the participants encrypt every frame end to
// end (protocol.md §3.13) with a random room secret the server is never
// given, all rooms VP8, and three more things are required: no packet the
// server sends back carries the canary readably; the participants find it
// in the frames they decrypt (the media did carry it); and a scan of every
// server process's memory (/proc/<pid>/mem, every writable mapping, taken
// while the media flows) finds none of it. The positive control decrypts
// too, stores and prints the plaintext, and its memory must show the
// canary: the memory scan is a sixth instrument with its own control.
// Without E2EE the worker's memory does hold the canary (it forwards
// plaintext media from memory, as allowed), which is why the memory scan
// runs in this mode only.
//
// # Verdict
//
// FAIL when any of these holds: a scanner missed a positive control; the
// canary is in a file (other than a control's) or in the server's output;
// the server wrote a file, or held one open for writing, outside its data
// dir; a media worker wrote to any file or made any disk write; the high
// volume made the server write more than max(64 KiB, 2 × the low volume's
// bytes), or more than max(64, 2 × the low volume's write events); the
// media did not come back through the server carrying the canary, or not
// about 10× apart; the watcher lost events; a server process died.
// PARTIAL when nothing failed but an instrument could not run (no root for
// fanotify, or a temp dir on tmpfs, where write_bytes is blind). PASS
// otherwise. checkVolume explains the volume limit.
//
// # What it cannot show
//
//   - Media that leaves the server encrypted (as received, in SRTP) or
//     transformed beyond the Matcher's encodings (compressed, transcoded,
//     re-encrypted) is not recognised by the content scans; the write
//     volume comparison is what bounds it, down to its threshold.
//   - write_bytes does not count writes to memory filesystems (tmpfs,
//     /dev/shm); the watcher does see them.
//   - A process that exits before the watcher reads its first event is
//     attributed by pid only; a server that hands media to an unrelated
//     process (over a socket) is caught only where that process writes it.
//   - Anything below the VFS: the kernel, swap, a hypervisor, a hostile
//     root user. Swap is reported by the attestation, not here.
//   - A run covers its own duration and traffic; it does not prove the
//     absence of a leak that needs other inputs to trigger.
//
// The package is Linux only and needs root for the watcher.
package verify
