package verify

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const sampleIO = `rchar: 2243
wchar: 100067
syscr: 9
syscw: 6
read_bytes: 4096
write_bytes: 102400
cancelled_write_bytes: 8192
`

func TestParseIO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want IO
		ok   bool
	}{
		{"kernel output", sampleIO, IO{RChar: 2243, WChar: 100067, ReadBytes: 4096, WriteBytes: 102400, CancelledWriteBytes: 8192}, true},
		{"blank lines and unknown fields", "\nfoo: 1\n" + sampleIO + "\n", IO{RChar: 2243, WChar: 100067, ReadBytes: 4096, WriteBytes: 102400, CancelledWriteBytes: 8192}, true},
		{"missing write_bytes", "rchar: 1\nwchar: 2\nread_bytes: 3\ncancelled_write_bytes: 4\n", IO{}, false},
		{"not a number", "rchar: x\nwchar: 2\nread_bytes: 3\nwrite_bytes: 1\ncancelled_write_bytes: 4\n", IO{}, false},
		{"negative", "rchar: -1\nwchar: 2\nread_bytes: 3\nwrite_bytes: 1\ncancelled_write_bytes: 4\n", IO{}, false},
		{"no colon", "rchar 1\n", IO{}, false},
		{"empty", "", IO{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseIO([]byte(tt.in))
			if tt.ok != (err == nil) || got != tt.want {
				t.Fatalf("ParseIO = %+v, %v", got, err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
		})
	}
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte(sampleIO))
	f.Add([]byte("rchar: 18446744073709551615\n"))
	f.Add([]byte(":::\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		io, err := ParseIO(b)
		if err != nil && io != (IO{}) {
			t.Fatal("values returned with an error")
		}
	})
}

func TestIOSub(t *testing.T) {
	t.Parallel()
	a := IO{WriteBytes: 10, WChar: 5}
	b := IO{WriteBytes: 4, WChar: 9}
	if d := a.Sub(b); d.WriteBytes != 6 || d.WChar != 0 {
		t.Fatalf("Sub = %+v", d)
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Stat
		ok   bool
	}{
		{"123 (lethe) S 45 123 123 0 -1", Stat{PID: 123, Comm: "lethe", PPID: 45}, true},
		{"7 (a) b) (c) R 1 7", Stat{PID: 7, Comm: "a) b) (c", PPID: 1}, true},
		{"1 (init) S 0 1", Stat{PID: 1, Comm: "init", PPID: 0}, true},
		{"x (a) S 1", Stat{}, false},
		{"5 (a) S", Stat{}, false},
		{"5 a S 1", Stat{}, false},
		{"5 (a) S -3", Stat{}, false},
		{"", Stat{}, false},
	}
	for _, tt := range tests {
		got, err := ParseStat([]byte(tt.in))
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseStat(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("123 (lethe) S 45 123 123 0 -1"))
	f.Add([]byte("7 (a) b) (c) R 1 7"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && (st.PID < 1 || st.PPID < 0) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

func TestProcessTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := helper("spawn", "write", filepath.Join(dir, "f"), "00")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close() // the grandchild, then the child, exit
		_ = cmd.Wait()
	}()
	waitFile(t, filepath.Join(dir, "f"))
	tree := Descendants(cmd.Process.Pid)
	if len(tree) != 1 {
		t.Fatalf("descendants of the helper: %v", tree)
	}
	anc := Ancestry(tree[0])
	if len(anc) < 3 || anc[0] != tree[0] || anc[1] != cmd.Process.Pid || anc[2] != os.Getpid() {
		t.Fatalf("ancestry %v, want [%d %d %d ...]", anc, tree[0], cmd.Process.Pid, os.Getpid())
	}
	if !slices.Contains(Children(os.Getpid()), cmd.Process.Pid) {
		t.Fatal("the helper is not a child of the test")
	}
	if _, err := ReadIO(tree[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStat(1 << 30); err == nil {
		t.Fatal("stat of a process that cannot exist")
	}
}
