// Package rtpcache keeps the most recent RTP packets of one track in a
// fixed ring of preallocated buffers, so that NACKs from subscribers can be
// answered by retransmission without asking the publisher.
//
// A Cache has one writer (the track's reader goroutine calling Store) and
// any number of concurrent readers (NACK handlers calling Get). Packets live
// only in memory and are overwritten as newer packets arrive; nothing is
// ever written elsewhere.
//
// It runs in the media worker, on the SFU's forwarding path.
package rtpcache
