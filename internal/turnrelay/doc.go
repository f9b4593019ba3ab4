// Package turnrelay is the TURN relay embedded in each media worker, for
// clients whose network lets no UDP through to Lethe: they reach it over
// TURN on TCP (or UDP, or TLS) and it relays their media to the worker's
// own media socket, in memory, inside the worker's lock-down.
//
// It is not a general TURN server:
//   - Credentials are in the style of the TURN REST API: the username is
//     "expiry:session" (unix seconds), the credential
//     base64(HMAC-SHA1(secret, username)). The secret is the control
//     process's, random per start, handed over the IPC socket. A
//     credential is good only while its session lives: Open makes it, End
//     refuses it from then on and closes the session's allocations.
//   - It relays only to the worker's own media addresses: a
//     CreatePermission or ChannelBind toward any other IP is refused, and
//     a datagram to or from any other address and port is dropped.
//   - Quotas: allocations per session, relayed bytes per second per
//     allocation (beyond is dropped), and no allocation outlives its
//     session or its credential. TCP relay allocations (RFC 6062) are not
//     offered.
//
// It is built on github.com/pion/turn/v5 and logs nothing of what it
// relays, nor any username or credential.
package turnrelay
