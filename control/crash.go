package control

import (
	"bufio"
	"errors"
	"io"
	"regexp"
	"strings"
)

// crashLog reduces a media worker's Go crash output — a panic, a fatal
// error, or the dump of every goroutine with registers that a signal such
// as SIGQUIT or SIGSEGV brings — to what may reach the control process's
// log: the kind of crash, a reason in the runtime's own words, and the
// function names of the first goroutine's stack (after those of the
// runtime's own stack, for a fatal error, separated by "|"). Everything else comes
// from the media process's memory and stays out: the panic's value,
// argument words and pointers ("(0xc000123456, 0x10)"), registers,
// addresses, source lines and every other goroutine. The worker runs with
// GOTRACEBACK=single, which already keeps other goroutines out of a
// panic's output; a signal dumps them all anyway, so this filter is what
// holds.
type crashLog struct {
	started  bool
	kind     string   // "panic", "fatal error", "signal", "runtime"
	reason   string   // in the runtime's words, numbers and addresses cut
	frames   []string // function names, innermost first
	stack    int      // 0: before the first stack, 1: in it, 2: after
	system   bool     // the stack read is the runtime's (a fatal error's), not yet a goroutine's
	withheld int      // lines not passed on
}

// maxFrames bounds the stack in the log line.
const maxFrames = 32

// crashStart matches the first line of a Go runtime crash report.
var crashStart = regexp.MustCompile(`^(panic: |fatal error: |fatal: |runtime: |unexpected fault address|SIG[A-Z0-9]+: |goroutine \d+ .*\]:$|\[signal )`)

// stackHeader starts a stack: a goroutine's, or the system stack of a
// fatal error.
var stackHeader = regexp.MustCompile(`^(goroutine \d+ .*\]:|runtime stack:)$`)

// funcName is what a frame's name may look like: letters, digits and the
// punctuation of Go symbol names (pkg/path.(*T[...]).Method.func1).
var funcName = regexp.MustCompile(`^[A-Za-z0-9_./*()\[\]{}~-]+$`)

// starts reports whether line begins a crash report.
func (c *crashLog) starts(line string) bool { return crashStart.MatchString(line) }

// add takes one line of the crash report.
func (c *crashLog) add(line string) {
	c.started = true
	c.withheld++
	switch {
	case c.stack == 1 && line == "" && c.system:
		c.stack, c.system = 0, false // the crashing goroutine's stack follows
	case c.stack == 1 && line == "":
		c.stack = 2
	case c.stack == 1:
		if !strings.HasPrefix(line, "\t") && len(c.frames) < maxFrames {
			c.frames = append(c.frames, frameName(line))
		}
	case c.stack == 0 && stackHeader.MatchString(line):
		c.stack = 1
		if line == "runtime stack:" && len(c.frames) == 0 {
			c.system = true
		} else if len(c.frames) > 0 {
			c.frames = append(c.frames, "|")
		}
	case c.stack == 0:
		c.noteReason(line)
	}
}

// noteReason reads the kind and reason from the lines before the stack.
func (c *crashLog) noteReason(line string) {
	set := func(kind, reason string) {
		if c.kind == "" {
			c.kind, c.reason = kind, reason
		}
	}
	switch {
	case strings.HasPrefix(line, "panic: "):
		v := strings.TrimPrefix(line, "panic: ")
		if rest, ok := strings.CutPrefix(v, "runtime error: "); ok {
			set("panic", "runtime error: "+words(rest))
		} else {
			set("panic", "value withheld")
		}
	case strings.HasPrefix(line, "fatal error: "):
		set("fatal error", words(strings.TrimPrefix(line, "fatal error: ")))
	case strings.HasPrefix(line, "[signal "):
		sig := words(strings.TrimPrefix(line, "[signal "))
		if c.kind == "" {
			set("signal", sig)
		} else if !strings.Contains(c.reason, sig) {
			c.reason += "; signal " + sig
		}
	case strings.HasPrefix(line, "unexpected fault address"):
		set("fatal error", "unexpected fault address")
	case strings.HasPrefix(line, "SIG"):
		set("signal", words(line))
	case strings.HasPrefix(line, "runtime: "), strings.HasPrefix(line, "fatal: "):
		set("runtime", words(strings.SplitN(line, ": ", 2)[1]))
	}
}

// words keeps the leading words of a runtime message, up to the first
// number, address, bracket or '=': "index out of range [5] with length 3"
// becomes "index out of range".
func words(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == ' ' || r == ',' || r == ':' || r == '-' || r == '\'' || r == '!')
	})
	if end >= 0 {
		if s[end] == '=' { // "code=0x1": the word is a field name
			end = strings.LastIndexByte(s[:end], ' ') + 1
		}
		s = s[:end]
	}
	s = strings.TrimRight(strings.TrimSpace(s), ":,-")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// frameName is a frame's function name without its arguments: from
// "pkg.(*T).M(0xc000123456, {0x1, 0x2})" "pkg.(*T).M", from "created by
// pkg.F in goroutine 7" "created by pkg.F". Anything that does not look
// like a Go symbol is "?".
func frameName(line string) string {
	if line == "...additional frames elided..." {
		return "..."
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(line, "created by "); ok {
		prefix, line = "created by ", rest
		if i := strings.Index(line, " in goroutine "); i >= 0 {
			line = line[:i]
		}
	}
	if strings.HasSuffix(line, ")") {
		depth := 0
		for i := len(line) - 1; i >= 0; i-- {
			switch line[i] {
			case ')':
				depth++
			case '(':
				depth--
			}
			if depth == 0 {
				line = line[:i]
				break
			}
		}
	}
	if !funcName.MatchString(line) {
		return "?"
	}
	return prefix + line
}

// attrs are the log attributes of the crash.
func (c *crashLog) attrs() []any {
	kind, reason := c.kind, c.reason
	if kind == "" {
		kind = "unknown"
	}
	return []any{"crash", kind, "reason", reason, "stack", strings.Join(c.frames, " < "), "withheldLines", c.withheld}
}

// maxLine bounds one line of worker output; the rest of a longer line is
// dropped (and the line marked), never left unread: a worker blocked on a
// full pipe could not even exit.
const maxLine = 64 << 10

// readLines calls fn for each line of r, without its newline, until r
// ends.
func readLines(r io.Reader, fn func(line string)) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			fn(string(b) + " [line cut]")
			for errors.Is(err, bufio.ErrBufferFull) { // the rest of it
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		if len(b) > 0 && (err == nil || len(strings.TrimSpace(string(b))) > 0) {
			fn(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		}
		if err != nil {
			return
		}
	}
}
