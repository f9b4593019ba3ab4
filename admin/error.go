package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is a reply of the admin API whose status is not 2xx. Use it with
// errors.As, or ErrorCode.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the API's stable error code, one of the Code constants; ""
	// if the reply was not one of the API's errors (a proxy's, say).
	Code string
	// Message explains the error to people; it may change between versions.
	Message string
	// RetryAfter is how long the server asked to wait before trying again
	// (its Retry-After header, with 429 rate_limited); 0 if it did not say.
	RetryAfter time.Duration
}

// Error is the message, then the code and the status:
// "no such application (app_not_found, HTTP 404)".
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// ErrorCode is the API's error code of err if err is or wraps an *Error,
// and "" otherwise: admin.ErrorCode(err) == admin.CodeAppNotFound.
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

// errorBody is the shape of every error reply.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// replyError makes the *Error of a reply that is not 2xx.
func replyError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// retryAfter reads a Retry-After header: whole seconds, as the API sends
// it, or an HTTP date; 0 if absent or unreadable.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 31); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
