package verify

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of the file scan.
const (
	DefaultMaxFileScan = 256 << 20 // bytes read per file
	maxMatchesKept     = 3
	scanChunk          = 1 << 20
	maxWalkEntries     = 200_000
)

// ScanResult is what scanning one file or one output stream found.
type ScanResult struct {
	// Scanned is the number of bytes read.
	Scanned int64 `json:"scanned"`
	// Truncated: the data was longer than the limit; the rest was not read.
	Truncated bool `json:"truncated,omitempty"`
	// Count is the number of distinct matches (about: a match crossing a
	// chunk boundary may count twice); Matches are the first few.
	Count   int     `json:"count"`
	Matches []Match `json:"matches,omitempty"`
}

// Found reports whether the canary was found.
func (r ScanResult) Found() bool { return r.Count > 0 }

// ScanReader reads r to its end or to limit bytes (limit <= 0: no limit)
// and looks for the canary, in chunks that overlap so that no match is
// missed at their boundaries.
func (m *Matcher) ScanReader(r io.Reader, limit int64) (ScanResult, error) {
	var res ScanResult
	overlap := m.Overlap()
	buf := make([]byte, overlap+scanChunk)
	carry := 0        // bytes at buf[:carry] from the previous chunk
	var base int64    // offset of buf[0] in r
	var lastEnd int64 // end of the last match counted
	for {
		want := len(buf) - carry
		if limit > 0 && res.Scanned+int64(want) > limit {
			want = int(limit - res.Scanned)
		}
		n, err := io.ReadFull(r, buf[carry:carry+want])
		res.Scanned += int64(n)
		data := buf[:carry+n]
		m.scan(data, func(x Match) bool {
			x.Offset += base
			if x.Offset >= lastEnd {
				res.Count++
				if len(res.Matches) < maxMatchesKept {
					res.Matches = append(res.Matches, x)
				}
			}
			lastEnd = max(lastEnd, x.Offset+int64(x.Len))
			return true
		})
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("scan: %w", err)
		}
		if limit > 0 && res.Scanned >= limit {
			var one [1]byte
			if k, _ := r.Read(one[:]); k > 0 {
				res.Truncated = true
			}
			return res, nil
		}
		keep := min(overlap, len(data))
		base += int64(len(data) - keep)
		copy(buf, data[len(data)-keep:])
		carry = keep
	}
}

// ScanBytes scans b, which is not limited.
func (m *Matcher) ScanBytes(b []byte) ScanResult {
	res := ScanResult{Scanned: int64(len(b))}
	m.scan(b, func(x Match) bool {
		res.Count++
		if len(res.Matches) < maxMatchesKept {
			res.Matches = append(res.Matches, x)
		}
		return true
	})
	return res
}

// FileScan is one file the verifier scanned.
type FileScan struct {
	Path string `json:"path"`
	// Sources say why it was scanned: "fanotify" (a watched write),
	// "walk" (recently changed in a scanned directory), "data-dir".
	Sources []string `json:"sources"`
	// Writers are the processes the watcher saw write it, by class
	// ("server", "control", "other") and pid.
	Writers map[string][]int `json:"writers,omitempty"`
	Size    int64            `json:"size"`
	// Gone: the file no longer existed and no descriptor to it was kept.
	Gone   bool       `json:"gone,omitempty"`
	Err    string     `json:"error,omitempty"`
	Result ScanResult `json:"result"`

	dev, ino uint64
	fd       *os.File
}

// scanFile scans f, through its kept descriptor when there is one.
func (m *Matcher) scanFile(f *FileScan, limit int64) {
	var r io.Reader
	if f.fd != nil {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.fd.Fd()), &st); err == nil {
			f.Size = st.Size
		}
		r = io.NewSectionReader(f.fd, 0, f.Size)
	} else {
		file, err := os.Open(f.Path)
		if errors.Is(err, fs.ErrNotExist) {
			f.Gone = true
			return
		}
		if err != nil {
			f.Err = err.Error()
			return
		}
		defer file.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(file.Fd()), &st); err != nil {
			f.Err = err.Error()
			return
		}
		if f.dev != 0 && (st.Dev != f.dev || st.Ino != f.ino) {
			f.Gone = true // replaced by another file of the same name
			return
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return
		}
		f.Size = st.Size
		r = file
	}
	res, err := m.ScanReader(r, limit)
	if err != nil {
		f.Err = err.Error()
	}
	f.Result = res
}

// walked is a regular file found by walkFiles.
type walked struct {
	path     string
	dev, ino uint64
}

// walkFiles lists the regular files under dir changed (mtime or ctime) at
// or after since; with since zero, all of them. It does not follow
// symbolic links or cross into other filesystems.
func walkFiles(dir string, since time.Time) ([]walked, error) {
	var root unix.Stat_t
	if err := unix.Stat(dir, &root); err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	var out []walked
	entries := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or vanished: skip
		}
		if entries++; entries > maxWalkEntries {
			return fs.SkipAll
		}
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil {
			return nil
		}
		if d.IsDir() {
			if st.Dev != root.Dev {
				return fs.SkipDir
			}
			return nil
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil
		}
		changed := !time.Unix(st.Mtim.Unix()).Before(since) || !time.Unix(st.Ctim.Unix()).Before(since)
		if since.IsZero() || changed {
			out = append(out, walked{path: path, dev: st.Dev, ino: st.Ino})
		}
		return nil
	})
	return out, err
}
