package verify

import "errors"

// Errors returned by this package. The wrapping message says what exactly
// failed. A verification that ran to its end returns a Report, whatever its
// verdict, and no error.
var (
	// ErrNotRoot: the fanotify watcher needs CAP_SYS_ADMIN (root), and
	// Config.AllowPartial was not set.
	ErrNotRoot = errors.New("verify: fanotify needs root (CAP_SYS_ADMIN); run as root or pass --allow-partial")
	// ErrBadConfig: a Config field is missing or out of range.
	ErrBadConfig = errors.New("verify: invalid configuration")
	// ErrBadCanary: CanaryFrom was given the wrong length or a zero byte.
	ErrBadCanary = errors.New("verify: invalid canary")
	// ErrServer: the server under test did not start, print its banner,
	// mint a token or stay up.
	ErrServer = errors.New("verify: server under test")
	// ErrMalformed: a /proc file or a banner line did not have the
	// expected shape.
	ErrMalformed = errors.New("verify: malformed input")
	// ErrWatcher: the fanotify watcher could not be set up.
	ErrWatcher = errors.New("verify: fanotify watcher")
)
