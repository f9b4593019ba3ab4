package adminserver

import (
	"fmt"
	"net/http"

	"github.com/lethe-rtc/lethe/admin"
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
	return errorf(http.StatusBadRequest, admin.CodeInvalidField, format, args...)
}

// internal wraps an unexpected error as a 500 whose text goes to the log
// only, with each of redact (user ids, room names) cut out of it.
func internal(cause error, redact ...string) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: admin.CodeInternal,
		message: "internal error", cause: cause, redact: redact}
}
