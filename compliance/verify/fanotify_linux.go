package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lethe-rtc/lethe/compliance"
)

// Defaults of WatchOptions.
const (
	DefaultKeepFDs   = 4096
	DefaultMaxEvents = 1 << 21
	mountInfoPath    = "/proc/self/mountinfo"
)

// pseudoFS are filesystem types that hold no files a process could store
// data in (or that fanotify cannot mark); the watcher does not mark them.
var pseudoFS = []string{
	"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs",
	"securityfs", "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "autofs",
	"nsfs", "efivarfs", "rpc_pipefs", "selinuxfs", "hugetlbfs",
}

// WatchOptions configure StartWatcher. The zero value marks every writable
// filesystem mounted in the caller's mount namespace.
type WatchOptions struct {
	// MountInfo is the mountinfo text listing the filesystems to mark;
	// default the contents of /proc/self/mountinfo.
	MountInfo []byte
	// Required are paths whose filesystems must be marked: StartWatcher
	// fails if one of them is not.
	Required []string
	// KeepFDs bounds how many written regular files the watcher keeps open
	// (one descriptor per file, from its first event), so that they can be
	// scanned even after they were deleted; default DefaultKeepFDs.
	KeepFDs int
	// MaxEvents bounds the events kept in the log; later events still
	// count per file and per process. Default DefaultMaxEvents.
	MaxEvents int
	// Now reads the clock that stamps events; default time.Now.
	Now func() time.Time
}

// Mark is one filesystem the watcher tried to mark.
type Mark struct {
	MountPoint string `json:"mountPoint"`
	FSType     string `json:"fsType"`
	Device     string `json:"device"` // major:minor
	Err        string `json:"error,omitempty"`
}

// WrittenFile is a file some process modified (FAN_MODIFY) or closed
// after opening it for writing (FAN_CLOSE_WRITE) while the watcher ran.
type WrittenFile struct {
	// Path is the file's path at its latest event, as the kernel names
	// the open file (a deleted file ends in " (deleted)").
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Regular bool   `json:"regular"`
	// Writers counts events per writing process (thread-group id).
	Writers map[int]int `json:"writers"`
	First   time.Time   `json:"first"`
	Last    time.Time   `json:"last"`

	// fd, when kept, reads the file's content even after deletion.
	fd *os.File
}

// Event is one fanotify event of the log.
type Event struct {
	At   time.Time
	PID  int
	File int // index into WatchLog.Files
	Mask uint64
}

// Proc is what the watcher learnt about a writing process when it first
// saw it: Ancestry is the process, its parent, grandparent... (just the
// process if it was already gone).
type Proc struct {
	PID      int    `json:"pid"`
	Comm     string `json:"comm"`
	Ancestry []int  `json:"ancestry"`
}

// DescendsFrom reports whether the process is root or one of its
// descendants, as far as its ancestry was known.
func (p Proc) DescendsFrom(root int) bool { return slices.Contains(p.Ancestry, root) }

// WatchLog is everything the watcher recorded.
type WatchLog struct {
	Marks  []Mark
	Files  []*WrittenFile
	Events []Event
	Procs  map[int]Proc
	// Overflows counts FAN_Q_OVERFLOW events: events the kernel dropped.
	// With the unlimited queue the watcher asks for, it should stay 0.
	Overflows int
	// Unkept counts events beyond MaxEvents (still counted per file).
	Unkept int
	// Errors are problems handling single events (first few).
	Errors []string
}

// Close releases the descriptors the log keeps open.
func (l *WatchLog) Close() {
	for _, f := range l.Files {
		if f.fd != nil {
			_ = f.fd.Close()
			f.fd = nil
		}
	}
}

// Watcher records, through fanotify with filesystem-wide marks, every file
// written on the marked filesystems and by which process. It needs
// CAP_SYS_ADMIN. It sees writes through write(2) and friends, io_uring and
// writable mappings (at close), by any process, but not writes that
// bypass the VFS (raw block I/O by the kernel itself).
type Watcher struct {
	f         *os.File
	now       func() time.Time
	keepFDs   int
	maxEvents int

	log      WatchLog
	index    map[[2]uint64]int
	kept     int
	stopping atomic.Bool
	done     chan struct{}
	stopOnce sync.Once
}

// StartWatcher initialises fanotify, marks the filesystems and starts
// reading events.
func StartWatcher(opts WatchOptions) (*Watcher, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.KeepFDs == 0 {
		opts.KeepFDs = DefaultKeepFDs
	}
	if opts.MaxEvents == 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.MountInfo == nil {
		b, err := os.ReadFile(mountInfoPath)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrWatcher, err)
		}
		opts.MountInfo = b
	}
	mounts, err := ParseMountInfo(opts.MountInfo)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWatcher, err)
	}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_UNLIMITED_QUEUE,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("%w: fanotify_init: %w", ErrNotRoot, err)
		}
		return nil, fmt.Errorf("%w: fanotify_init: %w", ErrWatcher, err)
	}
	w := &Watcher{
		f: os.NewFile(uintptr(fd), "fanotify"), now: opts.Now,
		keepFDs: opts.KeepFDs, maxEvents: opts.MaxEvents,
		index: make(map[[2]uint64]int), done: make(chan struct{}),
	}
	w.log.Procs = make(map[int]Proc)
	marked := map[string]bool{}
	for _, m := range mounts {
		if !m.Writable || slices.Contains(pseudoFS, m.FSType) || marked[m.Device] {
			continue
		}
		mk := Mark{MountPoint: m.MountPoint, FSType: m.FSType, Device: m.Device}
		err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM,
			unix.FAN_MODIFY|unix.FAN_CLOSE_WRITE, unix.AT_FDCWD, m.MountPoint)
		if err != nil {
			mk.Err = err.Error()
		} else {
			marked[m.Device] = true
		}
		w.log.Marks = append(w.log.Marks, mk)
	}
	for _, p := range opts.Required {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			_ = w.f.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrWatcher, p, err)
		}
		dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
		if !marked[dev] {
			_ = w.f.Close()
			return nil, fmt.Errorf("%w: the filesystem of %s (%s) is not marked", ErrWatcher, p, dev)
		}
	}
	go w.run()
	return w, nil
}

// Stop stops watching, reads the events still queued, and returns the log.
// The caller must Close the log.
func (w *Watcher) Stop() *WatchLog {
	w.stopOnce.Do(func() {
		w.stopping.Store(true)
		_ = w.f.SetReadDeadline(time.Now())
		<-w.done
		// Drain what is queued without waiting for more.
		buf := make([]byte, 1<<16)
		rc, err := w.f.SyscallConn()
		if err == nil {
			_ = rc.Control(func(fd uintptr) {
				for range 1 << 16 {
					n, err := unix.Read(int(fd), buf)
					if err != nil || n <= 0 {
						return
					}
					w.handle(buf[:n])
				}
			})
		}
		_ = w.f.Close()
	})
	return &w.log
}

func (w *Watcher) run() {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := w.f.Read(buf)
		if n > 0 {
			w.handle(buf[:n])
		}
		if err != nil {
			if !w.stopping.Load() {
				w.errorf("read: %v", err)
			}
			return
		}
	}
}

func (w *Watcher) errorf(format string, args ...any) {
	if len(w.log.Errors) < 20 {
		w.log.Errors = append(w.log.Errors, fmt.Sprintf(format, args...))
	}
}

const metaSize = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))

// handle processes a buffer of events.
func (w *Watcher) handle(b []byte) {
	now := w.now()
	for len(b) >= metaSize {
		m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&b[0]))
		if m.Vers != unix.FANOTIFY_METADATA_VERSION || int(m.Event_len) < metaSize || int(m.Event_len) > len(b) {
			w.errorf("event metadata version %d, length %d", m.Vers, m.Event_len)
			return
		}
		b = b[m.Event_len:]
		if m.Mask&unix.FAN_Q_OVERFLOW != 0 {
			w.log.Overflows++
		}
		if m.Fd < 0 {
			continue
		}
		w.record(now, int(m.Fd), int(m.Pid), m.Mask)
	}
}

// record files one event; it owns fd.
func (w *Watcher) record(now time.Time, fd, pid int, mask uint64) {
	keep := false
	defer func() {
		if !keep {
			_ = unix.Close(fd)
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		w.errorf("fstat: %v", err)
		return
	}
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		path = "?"
	}
	key := [2]uint64{st.Dev, st.Ino}
	i, seen := w.index[key]
	if !seen {
		i = len(w.log.Files)
		w.index[key] = i
		f := &WrittenFile{
			Dev: st.Dev, Ino: st.Ino, Regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
			Writers: map[int]int{}, First: now,
		}
		if f.Regular && w.kept < w.keepFDs {
			f.fd = os.NewFile(uintptr(fd), path)
			keep = true
			w.kept++
		}
		w.log.Files = append(w.log.Files, f)
	}
	f := w.log.Files[i]
	f.Path, f.Last = path, now
	f.Writers[pid]++
	if _, ok := w.log.Procs[pid]; !ok {
		p := Proc{PID: pid, Ancestry: compliance.Ancestry(pid)}
		if s, err := compliance.ReadStat(pid); err == nil {
			p.Comm = s.Comm
		}
		w.log.Procs[pid] = p
	}
	if len(w.log.Events) < w.maxEvents {
		w.log.Events = append(w.log.Events, Event{At: now, PID: pid, File: i, Mask: mask})
	} else {
		w.log.Unkept++
	}
}

// Mount is one line of a mountinfo file.
type Mount struct {
	MountPoint string
	FSType     string
	Device     string // major:minor
	Writable   bool   // neither the mount nor the superblock is read-only
}

// ParseMountInfo parses /proc/<pid>/mountinfo text (proc(5)).
func ParseMountInfo(b []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			return nil, fmt.Errorf("%w: mountinfo line %q", ErrMalformed, line)
		}
		super := ""
		if len(g) >= 3 {
			super = g[2]
		}
		out = append(out, Mount{
			MountPoint: unescapeMount(f[4]),
			FSType:     g[0],
			Device:     f[2],
			Writable:   hasOpt(f[5], "rw") && !hasOpt(super, "ro"),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: mountinfo: %w", ErrMalformed, err)
	}
	return out, nil
}

func hasOpt(opts, o string) bool { return slices.Contains(strings.Split(opts, ","), o) }

// unescapeMount undoes the octal escapes (\040 for a space...) of
// mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
