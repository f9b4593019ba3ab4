package compliance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

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
