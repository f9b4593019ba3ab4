// Package keyframe tells whether an RTP payload starts a keyframe, so the
// forwarder can switch a subscriber to a new source or simulcast layer at a
// point where the decoder can start.
//
// The functions read only the payload bytes (after the RTP header and its
// extensions), never allocate and never panic, whatever the input.
//
// It runs in the media worker, on the SFU's forwarding path.
package keyframe
