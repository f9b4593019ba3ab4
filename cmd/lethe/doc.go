// Command lethe is the one binary of Lethe, a WebRTC SFU that forwards
// audio and video in memory only.
//
//	lethe serve    the control process: signaling, tokens, store; spawns workers
//	lethe worker   a media worker (spawned by serve; not run by hand)
//	lethe token    mint a UserSig for a user of an application
//	lethe app      manage applications, keys and rooms through the admin API
//	lethe loadtest drive synthetic participants and report loss, latency, CPU
//	lethe compliance status|verify   what is enforced; evidence nothing is stored
//
// This package only parses flags into configurations and wires packages
// together.
package main
