package adminserver

import (
	"fmt"
	"net/http"
)

// Error codes: the stable "code" of an error reply
// {"error":{"code":"...","message":"..."}}. Clients branch on the code;
// the message is for people and may change. docs/api.md lists them.
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
	CodeRoomsUnavailable = "rooms_unavailable"      // 503: this server runs no room controller
	CodeInternal         = "internal"               // 500: see the server's log
)

// apiError is an error reply. cause, if set, is logged (never sent), with
// the redact strings removed from its text.
type apiError struct {
	status  int
	code    string
	message string
	cause   error
	redact  []string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, CodeInvalidField, format, args...)
}

// internal wraps an unexpected error as a 500 whose text goes to the log
// only, with each of redact (user ids, room names) cut out of it.
func internal(cause error, redact ...string) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal,
		message: "internal error", cause: cause, redact: redact}
}
