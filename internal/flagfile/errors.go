package flagfile

import (
	"errors"
	"fmt"
)

var (
	// ErrSyntax: the file is not YAML, or not a mapping of keys to values.
	ErrSyntax = errors.New("malformed configuration")
	// ErrUnknownKey: the file names a key that is no flag.
	ErrUnknownKey = errors.New("unknown key")
	// ErrValue: a value from the file or the environment does not fit its
	// flag.
	ErrValue = errors.New("invalid value")
	// ErrTooLarge: the file is larger than MaxFileSize.
	ErrTooLarge = errors.New("configuration file too large")
)

// Error is a mistake in a configuration file or variable, with where it
// is: File and Line for the file (Line 0: the file as a whole), Var for an
// environment variable.
type Error struct {
	File string
	Line int
	Var  string
	Key  string // the key or flag concerned, if any
	Msg  string
	Err  error // one of the Err... sentinels
}

func (e *Error) Error() string {
	var where string
	switch {
	case e.Var != "":
		where = e.Var
	case e.Line > 0:
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	default:
		where = e.File
	}
	if e.Key != "" && e.Var == "" {
		return fmt.Sprintf("%s: %s: %s", where, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", where, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }
