// Package queue is the bounded packet queue in front of one subscriber's
// writer: many publishers' reader goroutines push packets into it without
// ever blocking, and the subscriber's single writer goroutine pops them in
// batches.
//
// All packet buffers are allocated when the queue is made. A full queue
// drops the new packet and counts it, so a slow subscriber never slows a
// publisher or the other subscribers.
package queue
