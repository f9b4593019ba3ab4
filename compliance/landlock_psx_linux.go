//go:build cgo && !landlocktsync

package compliance

// landlockListsTasks: go-landlock, built with cgo and below Landlock ABI
// 8, silently adds a rule to list /proc/<pid>/task to every ruleset it
// enforces, because libpsx lists that directory right after (go-landlock
// issue 39). The worker's seal reports it.
const landlockListsTasks = true
