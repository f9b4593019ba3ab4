// Package e2ee is Lethe's end-to-end encryption frame format (protocol.md
// §3.13): AES-128-GCM over each encoded media frame, in the spirit of
// SFrame (RFC 9605), leaving clear only the leading bytes the SFU reads
// (the VP8 frame tag, and for a keyframe its start code and picture
// size). Keys come from a room secret that the application shares with
// its participants and never gives to Lethe: PBKDF2 stretches the secret
// once, HKDF derives each participant's frame key from it, salted with the
// participant id, and a key index in every frame selects one of RingSize
// secrets (rotation).
//
// web/lethe-e2ee.js implements the same format for browsers; the test
// vectors in testdata are checked by both.
//
// The package imports nothing of the project: the SFU never needs it.
package e2ee
