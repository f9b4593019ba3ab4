// Package ssrcgate drops, before Pion reads them, the RTP packets of one
// PeerConnection whose SSRC its remote description does not declare.
//
// Pion (github.com/pion/webrtc/v4, v4.2.26 at least) gives every SSRC
// that reaches a PeerConnection state of its own as soon as the first
// packet of it decrypts: an SRTP read stream with a buffer of up to 1 MB
// that nobody reads, an RTCP read stream, the SRTP context's per-SSRC
// replay state, a goroutine trying to make a track of it and a log line;
// for an offer without a=ssrc lines, a transceiver too. None of it goes
// before the PeerConnection closes. A client that sends each packet on a
// new SSRC grows the process by kilobytes a packet.
//
// A Gate sits where Pion cannot see it yet: between the ICE UDP mux and
// the ICE agent of one PeerConnection (Mux hands the agent gated
// connections). The SSRC of an RTP packet travels in clear (RFC 3711
// encrypts the payload only), so the gate reads it without keys and drops
// what it was not told to allow, counting it, at the cost of one
// comparison per packet and no memory per SSRC. STUN, DTLS and RTCP pass
// unchanged: SRTCP encrypts the SSRCs an RTCP packet is about.
//
// Only the client can send packets that decrypt, so a forged packet on an
// allowed SSRC is Pion's to reject, as before; a forged packet on another
// SSRC is dropped a little earlier than Pion would have.
//
// It runs in the media worker, in front of every PeerConnection the SFU
// makes.
package ssrcgate
