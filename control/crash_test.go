package control

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashHelperEnv makes the test binary a process that crashes in the way
// it names (see runCrashHelper), so that the tests read real Go runtime
// output.
const crashHelperEnv = "LETHE_CRASH_HELPER"

// crashSecret stands for media bytes in the crashing process's memory.
const crashSecret = "media-canary-7f3a"

type crashT struct{ buf []byte }

//go:noinline
func (c *crashT) crashHelperDeep(n int, s string, how string) int {
	if n > 0 {
		return c.crashHelperDeep(n-1, s, how) + 1
	}
	switch how {
	case "panic":
		panic("bad packet " + s + " " + string(c.buf))
	case "nil":
		var p *crashT
		return len(p.buf)
	case "index":
		return int(c.buf[len(s)+100])
	case "overflow":
		debug.SetMaxStack(1 << 20)
		return crashHelperOverflow(s)
	}
	time.Sleep(time.Hour) // "quit", "segv": until the signal
	return 0
}

// crashHelperOverflow recurses until the stack overflows (s never becomes
// "stop").
//
//go:noinline
func crashHelperOverflow(s string) int {
	if s == "stop" {
		return 0
	}
	return crashHelperOverflow(s+"x") + 1
}

// runCrashHelper crashes as asked, with goroutines around that hold
// "media".
func runCrashHelper(how string) {
	for range 4 {
		go func() {
			b := []byte(crashSecret)
			time.Sleep(time.Hour)
			_ = b
		}()
	}
	os.Stdout.WriteString("ready\n")
	c := &crashT{buf: []byte(crashSecret)}
	c.crashHelperDeep(3, crashSecret, how)
	os.Exit(0)
}

// The crash output of a worker reaches the log as one line with the
// function names of the crashing goroutine's stack: no panic value, no
// argument words, registers or addresses, no source lines, no other
// goroutine — whatever GOTRACEBACK says.
func TestCrashOutputFiltered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		how, traceback string
		signal         syscall.Signal
		kind, reason   string
		frame          string // a function name the stack must hold
	}{
		{"panic", "single", 0, "panic", "value withheld", "control.(*crashT).crashHelperDeep"},
		{"panic", "system", 0, "panic", "value withheld", "control.(*crashT).crashHelperDeep"},
		{"nil", "single", 0, "panic", "runtime error: invalid memory address or nil pointer dereference; signal SIGSEGV: segmentation violation", "control.(*crashT).crashHelperDeep"},
		{"segv", "single", syscall.SIGSEGV, "signal", "SIGSEGV: segmentation violation", "runtime."},
		{"index", "all", 0, "panic", "runtime error: index out of range", "control.(*crashT).crashHelperDeep"},
		{"overflow", "single", 0, "runtime", "goroutine stack exceeds", "control.crashHelperOverflow"},
		{"quit", "single", syscall.SIGQUIT, "signal", "SIGQUIT: quit", "runtime."},
		{"quit", "crash", syscall.SIGABRT, "signal", "SIGABRT: abort", "runtime."},
	}
	for _, tc := range tests {
		t.Run(tc.how+"/"+tc.traceback+"/"+tc.signal.String(), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashHelperEnv+"="+tc.how, "GOTRACEBACK="+tc.traceback)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var raw bytes.Buffer // what the worker printed, for the failure message
			var logged syncBuffer
			w := &proc{pool: &Pool{log: slog.New(slog.NewTextHandler(&logged, nil))}, idx: 3, tail: newTail(8)}
			var wg sync.WaitGroup
			wg.Add(1)
			go w.pipe(&wg, teeReader{stderr, &raw}, "stderr")
			ready := make([]byte, 6)
			if _, err := stdout.Read(ready); err != nil {
				t.Fatal(err)
			}
			if tc.signal != 0 {
				time.Sleep(100 * time.Millisecond) // into the sleep
				_ = cmd.Process.Signal(tc.signal)
			}
			wg.Wait()
			_ = cmd.Wait()

			out := logged.String()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 1 || !strings.Contains(out, `msg="media worker crashed"`) {
				t.Fatalf("log: want one line, got %d:\n%s\nfrom %d lines of crash output:\n%s", len(lines), out, strings.Count(raw.String(), "\n"), raw.String())
			}
			for _, bad := range []string{crashSecret, "0x", ".go:", "PC=", "rip ", "rax ", "fp=", "[running]", "bad packet"} {
				if strings.Contains(out, bad) {
					t.Errorf("the log line holds %q: %s", bad, out)
				}
			}
			if regexp.MustCompile(`goroutine \d`).MatchString(out) {
				t.Errorf("the log line names a goroutine: %s", out)
			}
			if !regexp.MustCompile(`crash="?` + tc.kind + `"? `).MatchString(out) {
				t.Errorf("the log line does not say crash=%s: %s", tc.kind, out)
			}
			for _, want := range []string{`reason="` + tc.reason + `"`, tc.frame, "worker=3"} {
				if !strings.Contains(out, want) {
					t.Errorf("the log line lacks %q: %s", want, out)
				}
			}
			if !strings.Contains(raw.String(), "goroutine ") {
				t.Errorf("the helper did not crash as planned:\n%s", raw.String())
			}
			t.Logf("%d lines of crash output → %s", strings.Count(raw.String(), "\n"), out)
		})
	}
}

func TestFrameName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"main.main()", "main.main"},
		{"github.com/x/y.(*T).Method(0xc000123456, {0x4a9a3f?, 0x3})", "github.com/x/y.(*T).Method"},
		{"runtime.goparkunlock(...)", "runtime.goparkunlock"},
		{"panic({0x49e3a0?, 0x4d3f40?})", "panic"},
		{"created by main.main in goroutine 1", "created by main.main"},
		{"pkg.F[...](0x1)", "pkg.F[...]"},
		{"pkg.(*T[go.shape.int]).M.func1()", "pkg.(*T[go.shape.int]).M.func1"},
		{"...additional frames elided...", "..."},
		{"rax    0xc000123456", "?"},
		{"goroutine running on other thread; stack unavailable", "?"},
	}
	for _, tc := range tests {
		if got := frameName(tc.in); got != tc.want {
			t.Errorf("frameName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"index out of range [5] with length 3", "index out of range"},
		{"all goroutines are asleep - deadlock!", "all goroutines are asleep - deadlock!"},
		{"SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x489726]", "SIGSEGV: segmentation violation"},
		{"goroutine stack exceeds 1000000000-byte limit", "goroutine stack exceeds"},
		{"0xc000123456", ""},
	}
	for _, tc := range tests {
		if got := words(tc.in); got != tc.want {
			t.Errorf("words(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A worker line longer than the limit is cut, and the lines after it are
// still read: a worker must never block on a pipe nobody reads.
func TestReadLinesLong(t *testing.T) {
	t.Parallel()
	in := "a\n" + strings.Repeat("x", 3*maxLine) + "\nb\nc"
	var got []string
	readLines(strings.NewReader(in), func(l string) { got = append(got, l) })
	if len(got) != 4 || got[0] != "a" || !strings.HasSuffix(got[1], "[line cut]") || len(got[1]) > maxLine+20 || got[2] != "b" || got[3] != "c" {
		t.Errorf("readLines: %d lines: %.40q", len(got), got)
	}
}

type teeReader struct {
	r   interface{ Read([]byte) (int, error) }
	dup *bytes.Buffer
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.dup.Write(p[:n])
	return n, err
}

// syncBuffer is a bytes.Buffer for one writer and a reader afterwards.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
