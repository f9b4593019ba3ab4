package verify

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return IO{}, fmt.Errorf("proc io: %w", err)
	}
	io, err := ParseIO(b)
	if err != nil {
		return IO{}, fmt.Errorf("proc io: pid %d: %w", pid, err)
	}
	return io, nil
}

// ParseIO parses the text of a /proc/<pid>/io file. Every field of IO must
// be present; unknown fields are ignored.
func ParseIO(b []byte) (IO, error) {
	var io IO
	fields := map[string]*uint64{
		"rchar": &io.RChar, "wchar": &io.WChar, "read_bytes": &io.ReadBytes,
		"write_bytes": &io.WriteBytes, "cancelled_write_bytes": &io.CancelledWriteBytes,
	}
	seen := 0
	for line := range bytes.Lines(b) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimSpace(string(line)), ":")
		if !ok {
			return IO{}, fmt.Errorf("%w: io line %q", ErrMalformed, line)
		}
		p, known := fields[name]
		if !known {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return IO{}, fmt.Errorf("%w: io %s %q", ErrMalformed, name, value)
		}
		*p = n
		seen++
		delete(fields, name)
	}
	if len(fields) > 0 {
		return IO{}, fmt.Errorf("%w: io: %d fields missing", ErrMalformed, len(fields))
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

// Children returns pid's child processes, from /proc/<pid>/task/*/children,
// sorted. A process that is gone has none.
func Children(pid int) []int {
	var out []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
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

// Stat is what ReadStat takes from /proc/<pid>/stat.
type Stat struct {
	PID  int
	Comm string
	PPID int
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, fmt.Errorf("proc stat: %w", err)
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("proc stat: pid %d: %w", pid, err)
	}
	return st, nil
}

// ParseStat parses the start of a /proc/<pid>/stat line: "pid (comm) state
// ppid ...". The command name may itself hold spaces and parentheses; it
// ends at the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return Stat{}, fmt.Errorf("%w: stat without (comm)", ErrMalformed)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil || pid < 1 {
		return Stat{}, fmt.Errorf("%w: stat pid", ErrMalformed)
	}
	rest := strings.Fields(string(b[closing+1:]))
	if len(rest) < 2 {
		return Stat{}, fmt.Errorf("%w: stat too short", ErrMalformed)
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil || ppid < 0 {
		return Stat{}, fmt.Errorf("%w: stat ppid", ErrMalformed)
	}
	return Stat{PID: pid, Comm: string(b[open+1 : closing]), PPID: ppid}, nil
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

// alive reports whether pid exists.
func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return !errors.Is(err, fs.ErrNotExist)
}
