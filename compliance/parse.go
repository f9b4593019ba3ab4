package compliance

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// statusField returns the value of "key:" in a /proc/<pid>/status (or
// fdinfo) file, with surrounding blanks trimmed.
func statusField(data []byte, key string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && name == key {
			return strings.TrimSpace(value), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, key, err)
	}
	return "", fmt.Errorf("%w: no %q field", ErrMalformed, key)
}

// parseNoNewPrivs reads the NoNewPrivs field of a status file.
func parseNoNewPrivs(status []byte) (bool, error) {
	v, err := statusField(status, "NoNewPrivs")
	if err != nil {
		return false, err
	}
	switch v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("%w: NoNewPrivs %q", ErrMalformed, v)
}

// parseIDs reads the four ids (real, effective, saved, filesystem) of the
// "Uid" or "Gid" field of a status file.
func parseIDs(status []byte, key string) ([4]int, error) {
	var ids [4]int
	v, err := statusField(status, key)
	if err != nil {
		return ids, err
	}
	f := strings.Fields(v)
	if len(f) != len(ids) {
		return ids, fmt.Errorf("%w: %s %q", ErrMalformed, key, v)
	}
	for i, s := range f {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return ids, fmt.Errorf("%w: %s %q", ErrMalformed, key, v)
		}
		ids[i] = int(n)
	}
	return ids, nil
}

// parseFdinfoFlags reads the "flags" field of /proc/<pid>/fdinfo/<n>, which
// the kernel prints in octal.
func parseFdinfoFlags(fdinfo []byte) (int, error) {
	v, err := statusField(fdinfo, "flags")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: fdinfo flags %q", ErrMalformed, v)
	}
	return int(n), nil
}

// coreLimitRow is the row name of RLIMIT_CORE in /proc/<pid>/limits.
const coreLimitRow = "Max core file size"

// parseCoreLimit reads the RLIMIT_CORE row of /proc/<pid>/limits:
//
//	Max core file size        0                    unlimited            bytes
//
// "unlimited" is math.MaxUint64 (RLIM_INFINITY).
func parseCoreLimit(limits []byte) (soft, hard uint64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(limits))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), coreLimitRow)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 3 || f[2] != "bytes" {
			return 0, 0, fmt.Errorf("%w: limits row %q", ErrMalformed, sc.Text())
		}
		if soft, err = parseLimit(f[0]); err != nil {
			return 0, 0, err
		}
		if hard, err = parseLimit(f[1]); err != nil {
			return 0, 0, err
		}
		return soft, hard, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("%w: limits: %v", ErrMalformed, err)
	}
	return 0, 0, fmt.Errorf("%w: no %q row", ErrMalformed, coreLimitRow)
}

func parseLimit(s string) (uint64, error) {
	if s == "unlimited" {
		return math.MaxUint64, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: limit %q", ErrMalformed, s)
	}
	return n, nil
}

// parseKB reads a "key:   123 kB" field of a status file, in KiB.
func parseKB(status []byte, key string) (uint64, error) {
	v, err := statusField(status, key)
	if err != nil {
		return 0, err
	}
	num, ok := strings.CutSuffix(v, " kB")
	if !ok {
		return 0, fmt.Errorf("%w: %s %q", ErrMalformed, key, v)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q", ErrMalformed, key, v)
	}
	return n, nil
}

// parseSeccomp reads the "Seccomp" mode (0 off, 1 strict, 2 filter) and
// "Seccomp_filters" count of a status file. A kernel without the count
// (before 5.9) gives -1.
func parseSeccomp(status []byte) (mode, filters int, err error) {
	v, err := statusField(status, "Seccomp")
	if err != nil {
		return 0, 0, err
	}
	m, err := strconv.Atoi(v)
	if err != nil || m < 0 || m > 2 {
		return 0, 0, fmt.Errorf("%w: Seccomp %q", ErrMalformed, v)
	}
	v, err = statusField(status, "Seccomp_filters")
	if err != nil {
		return m, -1, nil // a kernel before 5.9: no count
	}
	f, err := strconv.Atoi(v)
	if err != nil || f < 0 {
		return 0, 0, fmt.Errorf("%w: Seccomp_filters %q", ErrMalformed, v)
	}
	return m, f, nil
}

// parseSwaps lists the active swap areas of /proc/swaps: a header line,
// then one line per area whose first field is its file or device.
func parseSwaps(data []byte) ([]string, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "Filename") {
		return nil, fmt.Errorf("%w: /proc/swaps header %q", ErrMalformed, lines[0])
	}
	out := []string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 5 {
			return nil, fmt.Errorf("%w: /proc/swaps line %q", ErrMalformed, l)
		}
		out = append(out, f[0])
	}
	return out, nil
}

// parseStat reads the fields of Stat from a /proc/<pid>/stat line: "pid
// (comm) state ppid ... starttime ...". The command name (field 2) may
// itself hold spaces and parentheses: it ends at the last ')', and the
// fields after it are counted from there.
func parseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return Stat{}, fmt.Errorf("%w: stat without (comm)", ErrMalformed)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil || pid < 1 {
		return Stat{}, fmt.Errorf("%w: stat pid", ErrMalformed)
	}
	f := strings.Fields(string(b[closing+1:]))
	const ppid, starttime = 4 - 3, 22 - 3 // fields after the name begin with field 3
	if len(f) <= starttime {
		return Stat{}, fmt.Errorf("%w: stat has %d fields", ErrMalformed, len(f)+2)
	}
	pp, err := strconv.Atoi(f[ppid])
	if err != nil || pp < 0 {
		return Stat{}, fmt.Errorf("%w: stat ppid %q", ErrMalformed, f[ppid])
	}
	start, err := strconv.ParseUint(f[starttime], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat starttime %q", ErrMalformed, f[starttime])
	}
	return Stat{PID: pid, Comm: string(b[open+1 : closing]), PPID: pp, StartTime: start}, nil
}

// parseIO reads a /proc/<pid>/io file. Every field of IO must be present;
// the others are ignored.
func parseIO(b []byte) (IO, error) {
	var io IO
	for _, f := range []struct {
		key string
		v   *uint64
	}{
		{"rchar", &io.RChar}, {"wchar", &io.WChar}, {"read_bytes", &io.ReadBytes},
		{"write_bytes", &io.WriteBytes}, {"cancelled_write_bytes", &io.CancelledWriteBytes},
	} {
		v, err := statusField(b, f.key)
		if err != nil {
			return IO{}, fmt.Errorf("io: %w", err)
		}
		if *f.v, err = strconv.ParseUint(v, 10, 64); err != nil {
			return IO{}, fmt.Errorf("%w: io %s %q", ErrMalformed, f.key, v)
		}
	}
	return io, nil
}
