// Package retention runs the purge sweeper of the control process: it
// deletes every terminated application whose retention has run out.
//
// Termination (store.Store.TerminateApp) commits, in the same transaction,
// a pending purge: the SDKAppID and the time by which its data must be gone
// (at most seven days later, the promise). A Sweeper runs at start-up and
// then at least every Interval (at most MaxInterval, an hour), and also
// wakes at the earliest pending deadline, so a purge runs at its deadline
// and never before. Each purge deletes the application row, its keys and
// its application log in one transaction that also removes the pending
// purge; every sweep then checkpoints the WAL (TRUNCATE), so that deleted
// rows do not linger in the -wal file either. A purge cut short by a crash
// either committed (then the start-up sweep's checkpoint clears the files)
// or left its pending purge in place (then the start-up sweep redoes it).
//
// OldestOverdue is the age of the oldest purge whose deadline has passed,
// read from the store: 0 as long as the sweeper keeps up, which is what an
// operator should alert on.
//
// The package declares what it needs of the store (Store), which
// *store.Store implements.
package retention
