// Package vp9 reads the VP9 RTP payload descriptor (RFC 9628) and chooses,
// packet by packet, which spatial and temporal layers of a scalable (SVC)
// VP9 stream one subscriber is sent.
//
// Parse fills a caller's Descriptor and never allocates: the scalability
// structure's sizes are kept in fixed arrays and its picture group is
// checked but not kept. (Pion's codecs.VP9Packet appends reference indices
// and the picture group to slices that a reused value never shortens, and
// allocates for every scalability structure.) Selector is a pure state
// machine with no I/O and no clock.
//
// It runs in the media worker, on the SFU's forwarding path.
package vp9
