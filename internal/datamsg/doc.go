// Package datamsg is the framing of Lethe's data messages: the few bytes
// in front of each payload that say who sent it, to whom, and under which
// topic (docs/protocol.md 3.12).
//
// A frame is
//
//	version (1 byte, 1) | flags (1 byte) |
//	sender length (1 byte) | sender |
//	topic length (1 byte) | topic |
//	destination count (1 byte) | { id length (1 byte) | id } ... |
//	payload (the rest)
//
// A client sends frames without a sender (length 0) and with the
// participant ids it addresses (none: the whole room); the SFU relays
// them with the sender set by itself and no destinations, FlagPrivate
// telling a receiver that it was addressed by name.
//
// Parse reads a frame in place (the Message's fields are slices of the
// input) and Append writes one: neither allocates, as both run on the
// media worker's relay path for every message. The package imports
// nothing of the project.
package datamsg
