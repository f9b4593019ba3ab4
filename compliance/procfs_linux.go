package compliance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procDir is the /proc directory of pid.
func procDir(pid int) string { return "/proc/" + strconv.Itoa(pid) }

// WritableFiles returns the targets of pid's open file descriptors that are
// regular files opened for writing (O_WRONLY or O_RDWR), in fd order. A
// deleted file appears as the kernel names it ("/path (deleted)"), and so
// does a memfd ("/memfd:name (deleted)"), which is memory, not disk.
// Character devices such as /dev/null, pipes, sockets and anonymous inodes
// are not regular files and are never returned.
//
// It is a snapshot: descriptors opened or closed while it runs may be missed.
// It does not see writable shared mappings whose descriptor was closed.
// Reading another user's fds needs root (CAP_SYS_PTRACE).
func WritableFiles(pid int) ([]string, error) {
	dir := procDir(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("writable files: %w", err)
	}
	fds := make([]int, 0, len(ents))
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, n)
		}
	}
	slices.Sort(fds)

	var out []string
	for _, fd := range fds {
		link := filepath.Join(dir, strconv.Itoa(fd))
		// stat follows the magic link to the open file. The raw mode is
		// checked: anonymous inodes (eventpoll, eventfd) have no file type
		// bits, which os.FileMode would call regular.
		var st unix.Stat_t
		err := unix.Stat(link, &st)
		if errors.Is(err, unix.ENOENT) {
			continue // closed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("writable files: stat %s: %w", link, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("%s/fdinfo/%d", procDir(pid), fd))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writable files: %w", err)
		}
		flags, err := parseFdinfoFlags(info)
		if err != nil {
			return nil, fmt.Errorf("writable files: fd %d: %w", fd, err)
		}
		if acc := flags & unix.O_ACCMODE; acc != unix.O_WRONLY && acc != unix.O_RDWR {
			continue
		}
		target, err := os.Readlink(link)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writable files: %w", err)
		}
		out = append(out, target)
	}
	return out, nil
}

// NoNewPrivs reports whether every thread of pid has no_new_privs set, as
// read from /proc/<pid>/task/*/status. The flag is per thread, so one
// thread without it makes the answer false.
func NoNewPrivs(pid int) (bool, error) {
	dir := procDir(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("no_new_privs: %w", err)
	}
	seen := 0
	all := true
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue // thread exited meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("no_new_privs: %w", err)
		}
		nnp, err := parseNoNewPrivs(data)
		if err != nil {
			return false, fmt.Errorf("no_new_privs: task %s: %w", e.Name(), err)
		}
		seen++
		all = all && nnp
	}
	if seen == 0 {
		return false, fmt.Errorf("no_new_privs: pid %d: %w", pid, fs.ErrNotExist)
	}
	return all, nil
}

// CoreLimit returns pid's RLIMIT_CORE from /proc/<pid>/limits; unlimited is
// math.MaxUint64.
func CoreLimit(pid int) (soft, hard uint64, err error) {
	data, err := os.ReadFile(procDir(pid) + "/limits")
	if err != nil {
		return 0, 0, fmt.Errorf("core limit: %w", err)
	}
	soft, hard, err = parseCoreLimit(data)
	if err != nil {
		return 0, 0, fmt.Errorf("core limit: %w", err)
	}
	return soft, hard, nil
}

// IO is a process's /proc/<pid>/io: its I/O counters since it started,
// summed over all its threads (living and exited).
type IO struct {
	// RChar and WChar count bytes passed to read- and write-like system
	// calls, whatever the target (files, pipes, sockets, terminals).
	RChar uint64 `json:"rchar"`
	WChar uint64 `json:"wchar"`
	// ReadBytes and WriteBytes count bytes the process caused to be
	// fetched from or sent to the storage layer: WriteBytes grows when the
	// process dirties page-cache pages of a file on a block device (at
	// write time, not at writeback). Memory filesystems (tmpfs) do not count.
	ReadBytes  uint64 `json:"read_bytes"`
	WriteBytes uint64 `json:"write_bytes"`
	// CancelledWriteBytes: dirty bytes it truncated away before writeback.
	CancelledWriteBytes uint64 `json:"cancelled_write_bytes"`
}

// ReadIO reads /proc/<pid>/io. Another user's process needs root.
func ReadIO(pid int) (IO, error) {
	b, err := os.ReadFile(procDir(pid) + "/io")
	if err != nil {
		return IO{}, fmt.Errorf("io: %w", err)
	}
	io, err := parseIO(b)
	if err != nil {
		return IO{}, fmt.Errorf("io: pid %d: %w", pid, err)
	}
	return io, nil
}

// Sub returns the growth of the counters from before to io.
func (io IO) Sub(before IO) IO {
	d := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return IO{
		RChar: d(io.RChar, before.RChar), WChar: d(io.WChar, before.WChar),
		ReadBytes: d(io.ReadBytes, before.ReadBytes), WriteBytes: d(io.WriteBytes, before.WriteBytes),
		CancelledWriteBytes: d(io.CancelledWriteBytes, before.CancelledWriteBytes),
	}
}

// Stat is what ReadStat takes from /proc/<pid>/stat.
type Stat struct {
	PID  int
	Comm string
	PPID int
	// StartTime is field 22 (clock ticks after boot): with the pid it
	// names one process for good, as a pid can be reused and the pair
	// cannot.
	StartTime uint64
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(procDir(pid) + "/stat")
	if err != nil {
		return Stat{}, fmt.Errorf("stat: %w", err)
	}
	st, err := parseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("stat: %w", err)
	}
	return st, nil
}

// Children returns pid's child processes, from /proc/<pid>/task/*/children,
// sorted. A process that is gone has none.
func Children(pid int) []int {
	var out []int
	files, _ := filepath.Glob(procDir(pid) + "/task/*/children")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // thread exited
		}
		for _, field := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(field); err == nil && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Descendants returns pid's children, their children and so on, sorted.
func Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 4096 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range Children(p) {
			if !slices.Contains(out, c) {
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Ancestry returns pid followed by its parent, grandparent and so on up
// to (excluding) pid 0, read now from /proc. It stops early at a process
// that is gone.
func Ancestry(pid int) []int {
	out := []int{pid}
	for p := pid; p > 1 && len(out) < 64; {
		st, err := ReadStat(p)
		if err != nil || st.PPID == 0 {
			break
		}
		out = append(out, st.PPID)
		p = st.PPID
	}
	return out
}

// Credentials reads pid's ids, supplementary groups and capability sets
// from /proc/<pid>/task/*/status. The ids are the main thread's; the
// capability sets are the union over all threads, and MixedThreads says
// whether any thread differs from the main one.
func Credentials(pid int) (Creds, error) {
	main, err := os.ReadFile(procDir(pid) + "/status")
	if err != nil {
		return Creds{}, fmt.Errorf("credentials: %w", err)
	}
	c, err := parseCreds(main)
	if err != nil {
		return Creds{}, fmt.Errorf("credentials: pid %d: %w", pid, err)
	}
	dir := procDir(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Creds{}, fmt.Errorf("credentials: %w", err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue // thread exited meanwhile
		}
		if err != nil {
			return Creds{}, fmt.Errorf("credentials: %w", err)
		}
		t, err := parseCreds(data)
		if err != nil {
			return Creds{}, fmt.Errorf("credentials: task %s: %w", e.Name(), err)
		}
		c.merge(t)
	}
	return c, nil
}
