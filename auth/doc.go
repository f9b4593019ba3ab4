// Package auth issues and checks the tokens that admit a user of an
// application (an SDKAppID) to Lethe: UserSigs, optionally bound to one room,
// and privateMapKeys, which bind a user to a room with privilege bits.
//
// Two formats are accepted, and told apart by their alphabet:
//
//   - JWT, HS256 only (SignJWT): the header's kid names a Key of the app's
//     ring; claims sdkappid, sub, iat and exp (required), roomId or
//     strRoomId, privileges (0..255), role ("anchor" or "audience") and
//     consent ("adult" or "parental": the backend's signed statement that
//     it obtained the user's consent, on that basis).
//     Its JSON is read strictly, more so than golang-jwt would: the times
//     and numbers are plain JSON integers, no member is null or repeated,
//     and a crit header is refused.
//   - TLSSigAPIv2 (SignTLS), exactly as TRTC's public tls-sig-api-v2
//     libraries produce it, so that an app backend signing with those
//     libraries and a secret fetched from Lethe just works. It names no key:
//     it is checked, in constant time, against every key of the ring. With a
//     TLS.userbuf (EncodeUserBuf, DecodeUserBuf) it is a privateMapKey.
//
// Keys are short-lived: each has a signing window (NotBefore..NotAfter), a
// token is accepted only if it was issued inside its key's window, and its
// lifetime is capped by the app's MaxTokenTTL, so no token outlives its key
// by more than that (Key.LastTokenExpiry tells the store when a key can be
// destroyed). A revoked key refuses everything at once. The Verifier reaches
// an app's keys and policy through the KeyLookup interface, which this
// package declares and the store implements, once per verification.
//
// Every refusal is one of the sentinel errors in errors.go, so callers map
// them to protocol error codes with errors.Is. Nothing in this package logs,
// and no error text contains a token, a secret or a user id. Enforcing the
// privilege bits, roles and consent that the claims carry is the caller's
// business. A TLSSigAPIv2 token has no room for a consent (its JSON and
// signed content are fixed by TRTC's libraries): an application that
// requires one uses a JWT, as its UserSig or as its privateMapKey.
//
// The package imports nothing of the project.
//
// It runs in the control process (the signaling edge verifies, the admin API and `lethe token` mint), never in the media worker.
package auth
