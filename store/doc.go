// Package store keeps Lethe's persistent control-plane data in one SQLite
// file in the data dir: the applications (SDKAppID, name, tags, status,
// creation time) and their signing keys. It never holds media, user ids or
// room membership.
//
// The database is opened with secure_delete on every pooled connection, so
// deleted rows are overwritten rather than left in free pages, and in WAL
// mode; Checkpoint folds the WAL back into the file and truncates it, so
// purged rows do not linger there either. The schema is versioned with
// PRAGMA user_version and migrated on Open.
//
// Bootstrap lays out a data dir on first start (the database, an admin key
// file and a default application with one signing key) and reuses it after.
//
// *Store implements auth.KeyLookup.
package store
