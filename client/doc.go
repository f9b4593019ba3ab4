// Package client is Lethe's Go SDK: it speaks the signaling protocol of
// package signaling over a WebSocket, runs the two Pion PeerConnections of a
// participant (publisher: the client offers; subscriber: the server offers),
// and trickles ICE both ways.
//
// It also provides synthetic media for tests and load generation, without
// cgo: VP8, H.264 and Opus sources whose every RTP payload ends with a
// 24-byte Marker (stream id, sequence number, send time, CRC-32), and a
// Checker that reads those markers back to count loss, duplicates and
// reordering, keyframes, and latency.
//
// A Client runs two goroutines of its own (signaling reader and writer),
// one RTCP reader per published and per received track and the OnTrack
// handlers, besides
// Pion's, and one per ICE restart while it is under way; sources and
// checkers do not allocate per packet, so one process can run many
// clients.
//
// Simulcast: NewVP8SimulcastTrack (or NewH264SimulcastTrack) builds a
// video track of up to three layers — by default rids "q", "h", "f" at
// 150 kbit/s 320x180, 500 kbit/s 640x360 and 1.5 Mbit/s 1280x720 — each
// its own RTP stream (a=rid, a=simulcast:send q;h;f, the mid and
// rtp-stream-id header extensions in every packet), source, keyframes
// and markers ("LTL0".."LTL2": Marker.Layer). PublishSimulcast offers it;
// each layer answers PLI and FIR for its own SSRC. The server's
// layersWanted (dynacast) stops the layers nobody receives and restarts
// them with a keyframe (Source.SetActive), before the event is
// delivered. SetTrackSettings sends a subscriber's trackSettings; the
// events trackPaused, trackLayer and layersWanted carry typed data.
//
// An Opus Track writes the RFC 6464 audio level of Source.SetAudioLevel
// into every packet (silence until set), once its sender has negotiated
// the extension: the server's active speakers come from it, and the
// speakers event arrives as *signaling.Speakers.
//
// Data messages: a Join with Data opens two negotiated data channels on
// the subscriber PeerConnection (reliable and lossy); SendData sends to
// the room or to participants by id (reliable sends paced to the server's
// rates from joined), OnData hears the others, and refusals arrive as
// dataRejected events (docs/protocol.md 3.12).
//
// On the receiving side the Checker follows simulcast layers from the
// markers (layer now arriving, switches, whether each switch landed on a
// keyframe of the new layer, RTP sequence continuity and timestamp order
// across switches) and frames (complete frames, the longest gap between
// them, freezes since FreezeFrom or the last switch).
//
// APIConfig.Downlink shapes what an API's PeerConnections receive over
// UDP through a bottleneck (a rate, a FIFO of at most 200 ms, tail drop;
// Downlink.SetRate changes it at run time), so a test or the load
// generator limits one subscriber's bandwidth without root or netns.
//
// ICE restarts keep a participant whose network changed: the client
// answers the server's restart offers, restarts its publisher when the
// server asks, and restarts (or asks the server to restart) a
// PeerConnection that stays disconnected (Options.ICERestarts,
// RestartICE).
package client
