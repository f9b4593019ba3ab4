package webhook

import "errors"

// Errors of the package.
var (
	// ErrURL: a callback URL that is not an absolute http(s) URL with a
	// host and without userinfo or fragment.
	ErrURL = errors.New("webhook: invalid callback URL")
	// ErrKey: a callback key that is not 16..64 letters and digits.
	ErrKey = errors.New("webhook: invalid callback key")
	// ErrNoWebhook: the application has no callback URL.
	ErrNoWebhook = errors.New("webhook: the application has no callback")
	// ErrDelivery: the receiver did not answer 2xx (or not in time).
	ErrDelivery = errors.New("webhook: delivery failed")
	// ErrClosed: the dispatcher is closed.
	ErrClosed = errors.New("webhook: dispatcher closed")
)
