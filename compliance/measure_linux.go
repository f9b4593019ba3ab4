package compliance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Measurement is what can be read about a process from outside, through
// /proc and the kernel's own checks, at one moment. Nothing in it comes from
// the process's word.
type Measurement struct {
	// StartTime is field 22 of /proc/<pid>/stat (clock ticks after boot):
	// with the pid it identifies the process even if the pid is reused.
	StartTime uint64 `json:"startTime"`
	// ExeSHA256 is the SHA-256 of the file the process runs
	// (/proc/<pid>/exe), hex.
	ExeSHA256 string `json:"exeSHA256"`
	// SeccompMode and SeccompFilters are the weakest over its threads.
	SeccompMode    int `json:"seccompMode"`
	SeccompFilters int `json:"seccompFilters"`
	// NoNewPrivs is true when every thread has it.
	NoNewPrivs bool `json:"noNewPrivs"`
	// Dumpable is nil when it cannot be told (see DumpableHow).
	Dumpable *bool `json:"dumpable"`
	// DumpableHow says how Dumpable was decided: "ptrace-check" (see
	// Dumpable) or "proc-owner" (a non-root process whose /proc directory
	// the kernel hands to root is not dumpable).
	DumpableHow   string `json:"dumpableHow,omitempty"`
	CoreLimitSoft uint64 `json:"coreLimitSoft"`
	CoreLimitHard uint64 `json:"coreLimitHard"`
	// VmLckKB is locked memory (mlock), VmRSSKB resident memory, in KiB.
	VmLckKB uint64 `json:"vmLckKB"`
	VmRSSKB uint64 `json:"vmRSSKB"`
	// WritableFiles are the regular files it holds open for writing.
	WritableFiles []string `json:"writableFiles"`
	// Creds are its ids and capability sets (see Credentials); nil when
	// they could not be read.
	Creds *Creds `json:"creds"`
	// Errors are the measurements that could not be made.
	Errors []string `json:"errors,omitempty"`
}

// MeasureProcess measures pid from outside. Every failed measurement is
// named in Errors; the other fields are still filled. Reading another
// user's fds and exe, and judging dumpability of any process, is most
// reliable as root.
func MeasureProcess(pid int) Measurement {
	return measureProcess(pid, newHasher())
}

func measureProcess(pid int, h *hasher) Measurement {
	var m Measurement
	fail := func(err error) { m.Errors = append(m.Errors, err.Error()) }
	dir := procDir(pid)

	st, err := ReadStat(pid)
	if err != nil {
		fail(err)
	}
	m.StartTime = st.StartTime
	if m.ExeSHA256, err = h.sum(dir + "/exe"); err != nil {
		fail(err)
	}
	if m.SeccompMode, m.SeccompFilters, err = SeccompState(pid); err != nil {
		fail(err)
	}
	if m.NoNewPrivs, err = NoNewPrivs(pid); err != nil {
		fail(err)
	}
	if m.CoreLimitSoft, m.CoreLimitHard, err = CoreLimit(pid); err != nil {
		fail(err)
	}
	if status, err := os.ReadFile(dir + "/status"); err != nil {
		fail(fmt.Errorf("status: %w", err))
	} else {
		if m.VmLckKB, err = parseKB(status, "VmLck"); err != nil {
			fail(fmt.Errorf("status: %w", err))
		}
		if m.VmRSSKB, err = parseKB(status, "VmRSS"); err != nil {
			fail(fmt.Errorf("status: %w", err))
		}
	}
	if m.WritableFiles, err = WritableFiles(pid); err != nil {
		fail(err)
	}
	if c, err := Credentials(pid); err != nil {
		fail(err)
	} else {
		m.Creds = &c
	}

	d, err := Dumpable(pid)
	switch {
	case err == nil:
		m.Dumpable, m.DumpableHow = &d, "ptrace-check"
	case errors.Is(err, ErrCannotTell):
		if d, ok := dumpableFromOwner(pid); ok {
			m.Dumpable, m.DumpableHow = &d, "proc-owner"
		} else {
			fail(err)
		}
	default:
		fail(err)
	}
	return m
}

// dumpableFromOwner judges a process whose ids are all one non-root user:
// the kernel gives its /proc/<pid> files to root when it is not dumpable
// (proc(5)), and to that user when it is.
func dumpableFromOwner(pid int) (dumpable, ok bool) {
	status, err := os.ReadFile(procDir(pid) + "/status")
	if err != nil {
		return false, false
	}
	uids, err1 := parseIDs(status, "Uid")
	gids, err2 := parseIDs(status, "Gid")
	if err1 != nil || err2 != nil || uids[0] == 0 || uids != [4]int{uids[0], uids[0], uids[0], uids[0]} {
		return false, false
	}
	var st unix.Stat_t
	if err := unix.Stat(procDir(pid)+"/status", &st); err != nil {
		return false, false
	}
	switch {
	case int(st.Uid) == uids[0] && int(st.Gid) == gids[0]:
		return true, true
	case st.Uid == 0:
		return false, true
	}
	return false, false
}

// hasher hashes executables, once per file within one attestation.
type hasher struct {
	byFile map[[2]uint64]string // (dev, ino) -> hex sum
}

func newHasher() *hasher { return &hasher{byFile: make(map[[2]uint64]string)} }

// sum returns the SHA-256 of the file at path (hex).
func (h *hasher) sum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("exe: %w", err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("exe: %w", err)
	}
	key := [2]uint64{st.Dev, st.Ino}
	if s, ok := h.byFile[key]; ok {
		return s, nil
	}
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return "", fmt.Errorf("exe: %w", err)
	}
	s := hex.EncodeToString(d.Sum(nil))
	h.byFile[key] = s
	return s, nil
}
