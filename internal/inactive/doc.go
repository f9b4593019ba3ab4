// Package inactive prepares an SDP offer for a Pion PeerConnection that
// answers it, so that a transceiver whose m-section goes inactive can
// carry a track again later, as RFC 8829 (JSEP) allows and browsers do.
//
// Pion (github.com/pion/webrtc/v4, up to v4.2.26 at least) stops the
// transceiver of every m-section that an offer marks a=inactive, in
// SetRemoteDescription, each time it sees it. The first time, that is
// harmless: SetLocalDescription then finds the receiver's old SSRCs gone
// from the offer and gives the transceiver a fresh receiver. Any later
// offer that still marks the m-section inactive stops that fresh receiver
// too, and nothing replaces it, because it has no tracks; when a later
// offer reuses the m-section (same mid, new msid, new SSRC), Pion sets up
// the new track on the stopped receiver, whose reads fail at once: OnTrack
// never fires and no packet of the new track is delivered.
//
// Rewrite hands Pion such m-sections as a=recvonly instead. An answerer
// without a track to send treats both alike (its answer says inactive,
// its transceiver's direction becomes inactive, a receiver whose SSRCs
// left the offer is replaced) except that it does not stop the
// transceiver. m-sections of mids the answerer does not know yet, and
// rejected ones (port 0), are left as they are.
//
// It runs in the media worker (the SFU answers publishers' offers) and in
// clients (the Go SDK answers the server's subscriber offers).
package inactive
