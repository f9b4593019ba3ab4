package verify

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want region
		ok   bool
	}{
		{"00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/lethe", region{}, false},
		{"00651000-00652000 rw-p 00051000 08:02 173521 /usr/bin/lethe", region{0x651000, 0x652000}, true},
		{"c000000000-c004000000 rw-p 00000000 00:00 0", region{0xc000000000, 0xc004000000}, true},
		{"7ffd3a1e2000-7ffd3a203000 rw-p 00000000 00:00 0 [stack]", region{0x7ffd3a1e2000, 0x7ffd3a203000}, true},
		{"7ffd3a3e4000-7ffd3a3e8000 r--p 00000000 00:00 0 [vvar]", region{}, false},
		{"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]", region{}, false},
		{"7f00-7e00 rw-p 0 00:00 0", region{}, false},
		{"zz-7e00 rw-p 0 00:00 0", region{}, false},
		{"garbage", region{}, false},
	} {
		got, ok := parseMapsLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: %v %v, want %v %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// TestScanMemory: the canary in another process's memory is found; a
// process without it gives no match; a process that is gone, an error.
func TestScanMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading another process's memory needs ptrace rights (root)")
	}
	c := testCanary(t)
	m := NewMatcher(c)
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"holds the canary", window(c, 5, 2*CanaryLen), true},
		{"does not", junk(2*CanaryLen, 7), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			cmd := helper("write", path, hex.EncodeToString(tc.data))
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
			waitFile(t, path)
			res := m.scanMemory(cmd.Process.Pid, DefaultMaxMemoryScan)
			if res.Err != "" || res.Regions == 0 || res.Scanned == 0 {
				t.Fatalf("scan: %+v", res)
			}
			if res.Found() != tc.want {
				t.Errorf("found %v (%d matches in %d bytes of %d regions), want %v", res.Found(), res.Count, res.Scanned, res.Regions, tc.want)
			}
		})
	}
	if res := m.scanMemory(1<<30, DefaultMaxMemoryScan); res.Err == "" {
		t.Errorf("a process that does not exist: %+v", res)
	}
}

// FuzzParseMapsLine: any line parses or is refused, and a region it
// accepts is not empty.
func FuzzParseMapsLine(f *testing.F) {
	f.Add("00651000-00652000 rw-p 00051000 08:02 173521 /usr/bin/lethe")
	f.Add("7ffd3a3e4000-7ffd3a3e8000 rw-p 00000000 00:00 0 [vvar]")
	f.Add("ffffffffffffffff-0 rw-p")
	f.Fuzz(func(t *testing.T, l string) {
		if r, ok := parseMapsLine(l); ok && r.end <= r.start {
			t.Fatalf("%q: empty region %+v", l, r)
		}
	})
}
