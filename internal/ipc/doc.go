// Package ipc frames messages between the control process and a media
// worker over their socketpair: a 4-byte big-endian length, then one JSON
// object. Signaling is small and rare next to media, so clarity wins over
// a binary encoding here.
package ipc
