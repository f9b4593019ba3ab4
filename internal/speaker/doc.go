// Package speaker tells who is speaking in a room from the audio levels
// that publishers put in their RTP packets (RFC 6464), without decoding
// audio or keeping any of it: per track a few counters per time slot.
//
// A Track is fed one level per packet (Observe, 0 allocations) and is
// asked, a few times a second, whether it speaks now and how loud
// (State). It starts speaking when at least MinActive of the slots of the
// last Attack were active, and stops once none of the last Release was:
// a cough is too short to start, a pause between words too short to
// stop. A Ranking turns the speaking tracks of a room into an ordered
// list, and says when that list changed enough to be sent, at most once
// per Interval. Time is given by the caller; nothing here sleeps, runs a
// goroutine or does I/O.
//
// It runs in the media worker.
package speaker
