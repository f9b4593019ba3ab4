// Package loadtest drives synthetic participants against a Lethe server —
// rooms × publishers × subscribers, audio and/or video from the client
// package's synthetic sources — and reports what they saw: join times,
// received bitrate, loss, NACKs and PLIs, forwarding latency from the send
// times inside the payloads, and, when the server runs on this machine,
// its CPU time and memory per forwarded packet read from /proc.
//
// It sends only to the URL it is given (loopback by default) and stops by
// itself after the configured duration.
package loadtest
