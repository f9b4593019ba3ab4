// Package e2e holds Lethe's end-to-end tests: they build the real lethe
// binary, run `lethe serve` (which spawns real locked-down media workers)
// on loopback with a fresh data dir, and drive it with the Go client over
// real WebSocket and PeerConnections.
package e2e
