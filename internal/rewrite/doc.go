// Package rewrite maps the RTP sequence numbers and timestamps of the
// packets forwarded to one subscriber onto a single continuous output
// stream, so that the receiver sees one well-formed stream across pauses,
// mutes and switches between sources.
//
// Output is organised in epochs. The first packet, and the first packet
// after Pause, starts an epoch: its sequence number follows the last one
// sent and its timestamp advances by the wall time elapsed since the last
// packet sent. Within an epoch the offsets are constant, so losses,
// reordering and retransmissions upstream appear unchanged downstream, and
// the receiver's NACKs can be mapped back with Reverse.
//
// It runs in the media worker, on the SFU's forwarding path.
package rewrite
