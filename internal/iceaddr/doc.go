// Package iceaddr decides which local addresses a media worker gathers
// ICE host candidates on, and which addresses those candidates advertise.
//
// A worker's media sockets are bound to one address (--udp-host). A
// specific address is its own, single candidate address. An unspecified
// one (0.0.0.0, or [::] for both families) stands for every address of
// the host's up interfaces, narrowed by an include list (interface names,
// address prefixes); loopback addresses only when the socket itself is on
// loopback, IPv6 link-local ones never (their zone makes no sense to a
// peer). With public addresses (NAT 1:1, --public-ip), every local
// address of a family is advertised as the public addresses of that
// family instead, as Pion's catch-all address rewrite rule does; a family
// without a public address is advertised as it is.
//
// The decision is made once, at the worker's start, from a snapshot of
// the interfaces: what the banner and joined.server report is what every
// PeerConnection gathers.
package iceaddr
