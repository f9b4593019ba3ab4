package compliance

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockMemory calls mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT): every page
// mapped now or later is locked in memory as soon as it is touched, so
// nothing the process holds can be written to swap. MCL_ONFAULT keeps the
// Go runtime's large reservations from being populated up front; a page
// holding media is touched before it holds media, so it is locked by then.
func lockMemory() MlockReport {
	var m MlockReport
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
		m.Errno = errnoName(err)
	} else {
		m.Locked = true
	}
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		m.VmLckKB, _ = parseKB(st, "VmLck")
	}
	return m
}
