package compliance

import "errors"

// Errors returned by this package. Each returned error matches (errors.Is)
// at most one of these; the wrapping message says what exactly failed.
var (
	// ErrNotEnforced: LockDownWorker could not put a lock-down measure in
	// place, or a self-probe showed that a write was not blocked. The
	// accompanying Report says which.
	ErrNotEnforced = errors.New("compliance: lock-down not enforced")
	// ErrCannotTell: an outside inspection cannot reach an honest answer,
	// e.g. Dumpable called by a non-root caller for a process of another
	// user, or for a process in another user namespace.
	ErrCannotTell = errors.New("compliance: cannot tell from outside")
	// ErrMalformed: a /proc file did not have the expected shape.
	ErrMalformed = errors.New("compliance: malformed /proc data")
)
