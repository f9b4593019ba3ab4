// Package adminserver serves Lethe's admin HTTP API under /v1/admin/: the
// applications (create, list, get, update, suspend, resume, terminate,
// delete on request), their key rings (list, rotate, revoke, fetch the
// current signing key), server-side minting of UserSigs (JWT or
// TLSSigAPIv2), the application log, the pending purges (retention), and
// control of live rooms (list, dismiss, remove a user, block a user's
// audio or video). docs/api.md is the reference.
//
// Every request must carry "Authorization: Bearer <admin key>", compared in
// constant time, and is rate limited: requests with the key by one global
// bucket, requests without a valid key by buckets of their own (globally and
// per remote IP), so that a flood of wrong keys cannot starve the operator.
// Refusals (401, 429) are logged through a rate-limited log (internal/ratelog):
// a flood writes a line and a count per minute, not a line per request. Bodies are
// JSON objects of at most 1 MiB with no unknown fields; strings with control
// characters are refused. Errors are {"error":{"code","message"}} with the
// stable codes of package admin, whose wire types the handlers also use.
//
// Every operation on an application is recorded in its application log:
// the store logs its own mutations, this package appends the rest (reads,
// key fetches, minting, room control) through the Store interface it
// declares. Nothing here logs the admin key, a secret, a token, a user id
// or a room name: a request's log line holds the route pattern, the
// status, the SDKAppID and the duration.
//
// It runs in the control process (lethe serve), next to the signaling
// edge, and declares what it consumes: Store (implemented by *store.Store)
// and Rooms (implemented by the control process's room controller).
package adminserver
