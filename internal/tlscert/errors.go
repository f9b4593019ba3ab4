package tlscert

import "errors"

var (
	// ErrNoCertificate: nothing has been loaded or obtained yet.
	ErrNoCertificate = errors.New("tlscert: no certificate loaded")
	// ErrExpired: the served certificate's NotAfter has passed.
	ErrExpired = errors.New("tlscert: certificate expired")
	// ErrNotYetValid: the served certificate's NotBefore is still ahead.
	ErrNotYetValid = errors.New("tlscert: certificate not yet valid")
)
