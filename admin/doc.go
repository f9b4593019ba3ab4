// Package admin is the Go SDK of Lethe's admin HTTP API (docs/api.md):
// the API's wire types, its stable error codes, and Client, which calls
// every endpoint with a typed method. It runs in the process that imports
// it: the `lethe app` command, or an application backend that creates
// applications, mints UserSigs or controls live rooms, as LiveKit's server
// SDK does for its RoomService. The API itself is served by package
// adminserver, in the control process (lethe serve).
//
//	c, err := admin.New("http://127.0.0.1:7880", adminKey)
//	...
//	sig, err := c.MintUserSig(ctx, app, admin.UserSigRequest{UserID: "alice", RoomJSON: admin.RoomJSON{RoomID: 1234}})
//
// A reply that is not 2xx is an *Error with the HTTP status, the API's
// code (one of the Code constants: branch on it, not on the message) and,
// for 429, how long to wait. A transport failure or the context's end is
// returned as net/http reports it: errors.Is(err, context.Canceled) holds.
//
// The admin key is sent to the base URL only: never in plain http to a
// host that is not loopback, and never to where a redirect points.
//
// The package imports nothing of Lethe — not the store, not auth, not
// SQLite — so that a backend importing it builds none of the server; a
// test checks this.
package admin
