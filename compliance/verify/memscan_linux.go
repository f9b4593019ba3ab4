package verify

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// DefaultMaxMemoryScan bounds the bytes read of one process's memory.
const DefaultMaxMemoryScan = 4 << 30

// MemoryScan is what scanning one process's memory found.
type MemoryScan struct {
	PID  int    `json:"pid"`
	Role string `json:"role"` // "control", "worker" (server processes) or "positive-control"
	// Regions read, and those that could not be (unmapped meanwhile).
	Regions int `json:"regions"`
	Unread  int `json:"unreadRegions,omitempty"`
	ScanResult
	Err string `json:"error,omitempty"`
}

// scanMemory reads the writable private and anonymous mappings of pid
// (heap, stacks, Go arenas: where received media would be) through
// /proc/<pid>/mem and looks for the canary, up to limit bytes. Reading
// another process's memory needs ptrace rights over it: root's
// CAP_SYS_PTRACE for a non-dumpable media worker.
func (m *Matcher) scanMemory(pid int, limit int64) MemoryScan {
	res := MemoryScan{PID: pid}
	regions, err := writableRegions(pid)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer mem.Close()
	for _, r := range regions {
		if res.Scanned >= limit {
			res.Truncated = true
			break
		}
		n := min(r.end-r.start, limit-res.Scanned)
		got, err := m.ScanReader(io.NewSectionReader(mem, r.start, n), n)
		res.Scanned += got.Scanned
		if err != nil || got.Scanned == 0 {
			res.Unread++
			continue
		}
		res.Regions++
		for _, x := range got.Matches {
			if len(res.Matches) < maxMatchesKept {
				x.Offset += r.start // an address
				res.Matches = append(res.Matches, x)
			}
		}
		res.Count += got.Count
	}
	if res.Regions == 0 && len(regions) > 0 {
		res.Err = "no region could be read (no ptrace rights over the process?)"
	}
	return res
}

type region struct{ start, end int64 }

// writableRegions lists the readable, writable mappings of pid from
// /proc/<pid>/maps, kernel pseudo-mappings left out.
func writableRegions(pid int) ([]region, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, ok := parseMapsLine(sc.Text())
		if ok {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// parseMapsLine reads one line of /proc/<pid>/maps
// ("start-end perms offset dev inode [path]"); ok for a readable and
// writable mapping that is not [vvar], [vdso] or [vsyscall].
func parseMapsLine(l string) (region, bool) {
	f := strings.Fields(l)
	if len(f) < 5 || len(f[1]) < 2 || f[1][0] != 'r' || f[1][1] != 'w' {
		return region{}, false
	}
	if len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vdso]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]") {
		return region{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return region{}, false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s || e > 1<<62 {
		return region{}, false
	}
	return region{int64(s), int64(e)}, true
}
