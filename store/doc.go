// Package store keeps Lethe's persistent control-plane data in one SQLite
// file in the data dir: the applications (SDKAppID, name, tags, service
// status, creation time, policy), their short-lived signing keys, the
// application log, and the tokens withdrawn from removed users, as keyed
// hashes. It never holds media, tokens, user ids or room membership.
//
// Key rings. Every key has a signing window (NotBefore..NotAfter, one
// KeyLifetime long, 24 h by default). MaintainKeys, run at start-up
// (Bootstrap does) and at least every MaintainEvery, makes the next key
// before the current one stops signing and destroys — deletes — every key
// none of whose tokens can still be valid (NotAfter + MaxTokenTTL + a
// minute). RotateKey and RevokeKey do the same by hand; an active app is
// never left without a signing key. Every method takes the time as an
// argument: the package never reads the clock. *Store implements
// auth.KeyLookup through Ring.
//
// Application log. Each entry holds exactly SDK APPID, application name,
// tags, service status, the entry's creation time and an Operation from a
// closed set. Name, tags and status are copied from the app's own row, so
// no caller can put other text in; every mutating method appends its entry
// in its own transaction, and AppendLog takes the operations done outside
// the store (key fetches, token minting, room actions).
//
// Withdrawals. WithdrawToken keeps a token refused until it expires, as
// a row of three fields: SDKAppID, TokenHash (HMAC-SHA256 of the token,
// keyed with 32 random bytes the store makes on first open) and expiry.
// PurgeWithdrawals deletes the expired ones (lethe serve runs it with
// MaintainKeys); termination deletes an app's, and so does its purge.
//
// Lifecycle and retention. An app is active or suspended until
// TerminateApp, which in one transaction makes it terminated (final),
// deletes its keys (its tokens are refused at once) and its withdrawals,
// and schedules its purge at termination + its retention (at most, and by
// default, 7 days; shorter per app in its Policy or server-wide with
// WithRetention). The pending purge (SDKAppID and deadline only) is a row
// of its own, committed with the termination; a later call can only bring
// it earlier. RequestDeletion purges at once. Purge deletes the app row,
// its keys, withdrawals and log together with the pending purge in one
// transaction, so a crash leaves either all or none of it; the sweeper
// (store/retention) calls it when due, at start-up and periodically.
// Triggers in the schema refuse a deadline moved later, a terminated app
// revived or given a key or a withdrawal, and a pending purge dropped
// while its app remains.
//
// Deletion. The database is opened with secure_delete on every pooled
// connection, so deleted rows are overwritten rather than left in free
// pages, with temp_store in memory (no temporary files), and in WAL mode;
// Checkpoint folds the WAL back into the file and truncates it, so purged
// rows do not linger there either. The schema is versioned with PRAGMA
// user_version and migrated on Open.
//
// Read-only. OpenReadOnly opens an existing database for a command that
// only reads (lethe token, lethe loadtest --data-dir), beside a running
// server or not: SQLite's mode=ro and query_only, no migration (a schema
// older than the binary's is ErrSchemaOld), every write refused.
//
// Bootstrap lays out a data dir on first start (the database, an admin key
// file, an auditor key file and a default application with its first key)
// and reuses it after.
//
// It runs in the control process only: the media worker never links it (internal/layout tests that).
package store
