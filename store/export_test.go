package store

// SetHook sets s's test hook (see Store.hook), for the external tests.
func SetHook(s *Store, f func(point string)) { s.hook = f }

// Hook points, for the external tests.
const (
	HookTerminateBeforeCommit = hookTerminateBeforeCommit
	HookDeletionScheduled     = hookDeletionScheduled
	HookPurgeBeforeCommit     = hookPurgeBeforeCommit
	HookPurgeAfterCommit      = hookPurgeAfterCommit
)
