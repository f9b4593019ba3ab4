package verify

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const sampleMountInfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
28 27 0:25 / /mnt/read\040only ro,nosuid - tmpfs none ro,size=4k
29 27 0:26 / /mnt/super rw - xfs /dev/vdb ro
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw
31 27 0:28 /sub /mnt/tagged rw shared:5 master:1 - ext4 /dev/vdc rw
`

func TestParseMountInfo(t *testing.T) {
	t.Parallel()
	got, err := ParseMountInfo([]byte(sampleMountInfo))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{"/proc", "proc", "0:21", true},
		{"/dev/shm", "tmpfs", "0:23", true},
		{"/", "ext4", "254:0", true},
		{"/mnt/read only", "tmpfs", "0:25", false},
		{"/mnt/super", "xfs", "0:26", false},
		{"/dev/shm", "tmpfs", "0:27", true},
		{"/mnt/tagged", "ext4", "0:28", true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"1 2 3\n", "22 27 0:21 / /proc rw - \n", "no separator here at all x y z\n"} {
		if _, err := ParseMountInfo([]byte(bad)); err == nil {
			t.Errorf("ParseMountInfo(%q) accepted", bad)
		}
	}
	if m, err := ParseMountInfo(nil); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add([]byte(sampleMountInfo))
	f.Add([]byte(`1 2 3:4 / /a\0 rw - x y z`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMountInfo(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.FSType == "" || m.Device == "" {
				t.Fatalf("accepted %+v", m)
			}
		}
	})
}

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `/tab\011x`: "/tab\tx", `/bs\134`: `/bs\`, `/short\04`: `/short\04`, `/plain`: "/plain",
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: fanotify with filesystem marks needs root (CAP_SYS_ADMIN); CI runs these tests as root")
	}
}

// The watcher sees a write by a grandchild process, attributes it to that
// process with its ancestry, and keeps the file readable after deletion.
func TestWatcherAttributesWrites(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	c := testCanary(t)
	m := NewMatcher(c)
	w, err := StartWatcher(WatchOptions{Required: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	kept, gone := filepath.Join(dir, "kept"), filepath.Join(dir, "gone")
	child := helper("spawn", "write", kept, hex.EncodeToString([]byte("hello")))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, kept)
	time.Sleep(300 * time.Millisecond) // the writer lives on while the watcher looks it up
	_ = stdin.Close()
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	deleter := helper("write", gone, hex.EncodeToString(window(c, 5, 100)), "delete")
	if err := deleter.Run(); err != nil {
		t.Fatal(err)
	}
	log := w.Stop()
	defer log.Close()
	if log.Overflows != 0 {
		t.Fatalf("%d overflows", log.Overflows)
	}

	var keptFile, goneFile *WrittenFile
	for _, f := range log.Files {
		switch strings.TrimSuffix(f.Path, " (deleted)") {
		case kept:
			keptFile = f
		case gone:
			goneFile = f
		}
	}
	if keptFile == nil || goneFile == nil {
		t.Fatalf("watcher missed the writes: kept %v, gone %v (%d files)", keptFile != nil, goneFile != nil, len(log.Files))
	}
	if len(keptFile.Writers) != 1 {
		t.Fatalf("writers %v", keptFile.Writers)
	}
	for pid := range keptFile.Writers {
		p := log.Procs[pid]
		// Written by the grandchild: its parent is the child, whose
		// parent is this test.
		if pid == child.Process.Pid || !p.DescendsFrom(child.Process.Pid) || !p.DescendsFrom(os.Getpid()) {
			t.Fatalf("write attributed to %d %+v; child %d, test %d", pid, p, child.Process.Pid, os.Getpid())
		}
	}
	if goneFile.Writers[deleter.Process.Pid] == 0 || !goneFile.Regular {
		t.Fatalf("deleted file: writers %v (deleter %d)", goneFile.Writers, deleter.Process.Pid)
	}
	fs := &FileScan{Path: goneFile.Path, fd: goneFile.fd}
	m.scanFile(fs, 0)
	if fs.Gone || !fs.Result.Found() {
		t.Fatalf("the deleted file's canary was not found through the kept descriptor: %+v", fs)
	}
	if len(log.Events) == 0 || log.Events[0].At.IsZero() {
		t.Fatal("no events logged")
	}
}

func TestWatcherRequiredFilesystem(t *testing.T) {
	needRoot(t)
	// A mountinfo that lists no filesystem holding the temp dir.
	_, err := StartWatcher(WatchOptions{
		MountInfo: []byte("22 27 0:21 / /proc rw - proc proc rw\n"),
		Required:  []string{t.TempDir()},
	})
	if err == nil {
		t.Fatal("started although the required filesystem is not marked")
	}
}
