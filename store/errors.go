package store

import "errors"

var (
	// ErrNotFound: no such application, or no such key in its ring.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: the key id is already in the application's key ring.
	ErrExists = errors.New("store: already exists")
	// ErrInvalid: an argument the store refuses to record (a name, tag or
	// policy out of bounds, a control character, an unknown operation).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrStatus: the application's service status forbids the change asked
	// for (for example a status transition the store does not allow).
	ErrStatus = errors.New("store: not allowed in the application's status")
	// ErrNotDue: the application's purge is scheduled later than the time given.
	ErrNotDue = errors.New("store: purge not due yet")
	// ErrSchemaTooNew: the database was written by a newer Lethe.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrSchemaOld: a read-only store (OpenReadOnly) found a schema older
	// than this binary's, which only a read-write Open migrates.
	ErrSchemaOld = errors.New("store: database schema is older than this binary")
	// ErrBusy: a WAL checkpoint could not complete because of readers.
	ErrBusy = errors.New("store: database busy")
	// ErrUnsafeFile: a file holding secrets is readable by group or others.
	ErrUnsafeFile = errors.New("store: file readable by group or others")
)
