package admin

// Error codes: the stable "code" of an error reply
// {"error":{"code":"...","message":"..."}}, and of an *Error. Clients
// branch on the code; the message is for people and may change.
// docs/api.md, section 7, lists them.
const (
	CodeUnauthorized     = "unauthorized"           // 401: no, malformed or wrong admin key
	CodeRateLimited      = "rate_limited"           // 429: see Retry-After
	CodeBodyTooLarge     = "body_too_large"         // 413: body over 1 MiB
	CodeUnsupportedMedia = "unsupported_media_type" // 415: Content-Type is not application/json
	CodeInvalidJSON      = "invalid_json"           // 400: not one JSON object of the right shape
	CodeUnknownField     = "unknown_field"          // 400: a JSON field the endpoint does not take
	CodeInvalidField     = "invalid_field"          // 400: a value out of range or with forbidden characters
	CodeNotFound         = "not_found"              // 404: no such endpoint
	CodeMethodNotAllowed = "method_not_allowed"     // 405: see Allow
	CodeAppNotFound      = "app_not_found"          // 404: no such SDKAppID
	CodeKeyNotFound      = "key_not_found"          // 404: no such kid in the app's key ring
	CodeRoomNotFound     = "room_not_found"         // 404: the app has no such room now
	CodeUserNotFound     = "user_not_found"         // 404: no such user in the room
	CodeAppNotActive     = "app_not_active"         // 409: the app is suspended (or terminated)
	CodeNoSigningKey     = "no_signing_key"         // 409: the app has no key valid now
	CodeConflict         = "conflict"               // 409: the store refused a state change
	CodeNoWebhook        = "no_webhook"             // 409: the app has no webhook to test
	CodeRoomsUnavailable = "rooms_unavailable"      // 503: this server runs no room controller
	CodeUnavailable      = "unavailable"            // 503: this server cannot give what was asked
	CodeInternal         = "internal"               // 500: see the server's log
)
