// Package ratelog keeps repeated diagnostics from flooding the log: the
// first occurrence of a key is written, the repeats within an interval are
// only counted, and each interval's count is written once, as one summary
// line with the same message ("repeated=N in=1m0s").
//
// Memory is bounded: at most MaxKeys keys are tracked; further keys share
// one overflow entry. Time comes from an injected clock, so tests need no
// sleeping. Keys must come from the caller's own constants (a kind of
// refusal, a status code), never from client input.
//
// It runs in the control process, where the signaling edge and the admin
// API report refused requests, and in the media worker, where the SFU
// reports what clients' media and Pion's parts do wrong.
package ratelog
