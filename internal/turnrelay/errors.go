package turnrelay

import "errors"

// Errors of the relay.
var (
	ErrBadUsername = errors.New("turnrelay: username is not expiry:session")
	ErrNoSession   = errors.New("turnrelay: no such session (ended, or never opened)")
	ErrQuota       = errors.New("turnrelay: allocation quota of the session reached")
	ErrTCPRelay    = errors.New("turnrelay: TCP relay allocations are not offered")
	ErrClosed      = errors.New("turnrelay: closed")
	ErrConfig      = errors.New("turnrelay: config")
)
