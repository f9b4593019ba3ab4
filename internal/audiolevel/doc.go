// Package audiolevel reads the audio level (RFC 6464, the
// urn:ietf:params:rtp-hdrext:ssrc-audio-level header extension) out of a
// raw RTP packet, without decoding any audio.
//
// Parse reads only the RTP header and its extension block, never
// allocates and never panics, whatever the input.
//
// It runs in the media worker, on the SFU's reader path.
package audiolevel
