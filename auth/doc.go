// Package auth issues and checks the UserSig tokens that admit a user of an
// application (an SDKAppID) to Lethe, optionally bound to one room.
//
// The token format today is a JWT signed with HS256 (see [SignJWT] and
// [Verifier]); the header's kid names a [Key] in the application's key ring,
// which the verifier reaches through the [KeyLookup] interface that this
// package declares and the store implements. Keys carry a validity window
// (NotBefore, NotAfter) so that short-lived keys and rotation can be added
// without changing the types.
//
// Every refusal is one of the sentinel errors in errors.go, so callers map
// them to protocol error codes with errors.Is. Nothing in this package logs,
// and no error text contains a token, a secret or a user id.
//
// The package imports nothing of the project.
package auth
