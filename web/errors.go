package web

import "errors"

// Errors of the dev-token endpoint's request checks.
var (
	// ErrNotLoopback: the request did not come from, or was not addressed
	// to, a loopback address or name.
	ErrNotLoopback = errors.New("web: dev token: loopback clients only")
	// ErrBadName: a user or room is not 1-64 bytes of printable UTF-8
	// without white space.
	ErrBadName = errors.New("web: bad name")
)
