// Package workerpool runs the media worker processes for the control
// process: it spawns `lethe worker` children with a socketpair each, reads
// their output, places each room on one worker, relays sessions' frames,
// and replaces a worker that dies — telling its participants, and leaving
// rooms on the other workers untouched.
package workerpool
