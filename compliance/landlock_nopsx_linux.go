//go:build !cgo || landlocktsync

package compliance

// landlockListsTasks: see landlock_psx_linux.go.
const landlockListsTasks = false
