// Package bottleneck models a slow link: packets leave it one after the
// other at its rate (a leaky bucket), wait in a FIFO of bounded delay
// while the link is busy, and are dropped at the tail when the FIFO is
// full — the queueing delay and loss a delay-based congestion controller
// reacts to. It only computes departure times; the caller holds the
// packets and the clock.
package bottleneck
