package store

import "errors"

var (
	// ErrNotFound: no such application.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: the key id is already in the application's key ring.
	ErrExists = errors.New("store: already exists")
	// ErrInvalid: an argument the store refuses to record.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrSchemaTooNew: the database was written by a newer Lethe.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrBusy: a WAL checkpoint could not complete because of readers.
	ErrBusy = errors.New("store: database busy")
	// ErrUnsafeFile: a file holding secrets is readable by group or others.
	ErrUnsafeFile = errors.New("store: file readable by group or others")
)
