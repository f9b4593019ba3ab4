// Package queue is the bounded packet queue in front of each subscriber:
// many publishers' reader goroutines push packets into it without ever
// blocking, and one of a Scheduler's few drainer goroutines, serving every
// subscriber's queue in turn, takes them in batches and sends them.
//
// A packet fanned out to many queues is one shared, reference-counted
// buffer (Packet, from a pool), so a queue costs a few bytes a slot and a
// fan-out one copy. A full queue drops the new packet and counts it, so a
// slow subscriber never slows a publisher or the other subscribers.
//
// It runs in the media worker, on the SFU's forwarding path.
package queue
