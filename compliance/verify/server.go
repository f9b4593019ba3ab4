package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	bannerTimeout = 30 * time.Second
	stopTimeout   = 15 * time.Second
	tokenTimeout  = 15 * time.Second
	maxCapture    = 64 << 20 // bytes of a process's output kept for the scan
	tokenTTL      = "30m"
)

// Banner is what `lethe serve` says on stdout when it is up.
type Banner struct {
	URL     string // ws://host:port/v1/signal
	AppID   uint32 // the default application
	Workers []int  // media worker pids
}

var (
	bannerURLRE    = regexp.MustCompile(`signaling:\s+(ws://[^\s/]+/v1/signal)\s*$`)
	bannerAppRE    = regexp.MustCompile(`SDKAppID (\d+)`)
	bannerWorkerRE = regexp.MustCompile(`^\s*worker \d+:\s+pid (\d+),`)
)

// ParseBanner reads a serve banner. complete is false until both the
// signaling URL and the default application have been printed.
func ParseBanner(text []byte) (b Banner, complete bool) {
	for line := range bytes.Lines(text) {
		l := strings.TrimRight(string(line), "\r\n")
		if m := bannerURLRE.FindStringSubmatch(l); m != nil && b.URL == "" {
			b.URL = m[1]
		}
		if m := bannerAppRE.FindStringSubmatch(l); m != nil && b.AppID == 0 {
			if n, err := strconv.ParseUint(m[1], 10, 32); err == nil {
				b.AppID = uint32(n)
			}
		}
		if m := bannerWorkerRE.FindStringSubmatch(l); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
				b.Workers = append(b.Workers, n)
			}
		}
	}
	return b, b.URL != "" && b.AppID != 0
}

// capture keeps what a process printed, in memory only, up to maxCapture
// bytes (then counts the rest).
type capture struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int64
}

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := max(maxCapture-c.b.Len(), 0); room < len(p) {
		c.dropped += int64(len(p) - room)
		p = p[:room]
	}
	c.b.Write(p)
	return n, nil
}

// Bytes returns a copy of what was captured.
func (c *capture) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.b.Bytes())
}

func (c *capture) Dropped() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// server is the Lethe under test: started by the verifier, or attached.
type server struct {
	exe     string
	pid     int
	url     string
	appID   uint32
	dataDir string

	cmd      *exec.Cmd // nil when attached
	stdout   *capture
	stderr   *capture
	exited   chan struct{}
	banner   Banner
	stopOnce sync.Once
}

// startServer runs `exe serve` on free loopback ports with dataDir, and
// waits for its banner.
func startServer(ctx context.Context, exe, dataDir string, extra []string) (*server, error) {
	// --drain-timeout 0: a server of one run stops at its SIGTERM, nobody to wait for.
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--udp-port", "0",
		"--drain-timeout", "0"}, extra...)
	s := &server{exe: exe, dataDir: dataDir, stdout: &capture{}, stderr: &capture{}, exited: make(chan struct{})}
	s.cmd = exec.Command(exe, args...)
	s.cmd.Stderr = s.stderr
	// The server dies with the verifier rather than outliving it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServer, err)
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start: %w", ErrServer, err)
	}
	s.pid = s.cmd.Process.Pid
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(s.stdout, out)
	}()
	go func() {
		<-copied
		_ = s.cmd.Wait()
		close(s.exited)
	}()

	deadline := time.NewTimer(bannerTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, ok := ParseBanner(s.stdout.Bytes()); ok {
			s.banner, s.url, s.appID = b, b.URL, b.AppID
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%w: lethe serve exited before it was up: %s", ErrServer, lastLine(s.stderr.Bytes()))
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("%w: no banner within %s", ErrServer, bannerTimeout)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// attachServer uses a server that is already running.
func attachServer(exe string, a Attach) (*server, error) {
	if !alive(a.PID) {
		return nil, fmt.Errorf("%w: no process %d", ErrServer, a.PID)
	}
	return &server{exe: exe, pid: a.PID, url: a.URL, appID: a.AppID, dataDir: a.DataDir}, nil
}

// lastLine returns the last non-empty line of b, shortened: for error
// messages about a process that failed. The server's own diagnostics
// never hold media or secrets.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	l := lines[len(lines)-1]
	if len(l) > 300 {
		l = l[:300] + "..."
	}
	return l
}

// stop ends a server the verifier started (SIGTERM, then SIGKILL) and
// waits for it. An attached server is left alone.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	var err error
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("%w: did not stop within %s of SIGTERM", ErrServer, stopTimeout)
		}
	})
	return err
}

// running reports whether the server process still exists.
func (s *server) running() bool {
	if s.cmd != nil {
		select {
		case <-s.exited:
			return false
		default:
			return true
		}
	}
	return alive(s.pid)
}

// token mints a UserSig for user with `lethe token`. It is kept in memory
// only and never printed.
func (s *server) token(ctx context.Context, user string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	args := []string{"token", "--data-dir", s.dataDir, "--user", user, "--ttl", tokenTTL}
	if s.appID != 0 {
		args = append(args, "--app", strconv.FormatUint(uint64(s.appID), 10))
	}
	cmd := exec.CommandContext(ctx, s.exe, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: lethe token: %w: %s", ErrServer, err, lastLine(stderr.Bytes()))
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" {
		return "", fmt.Errorf("%w: lethe token printed nothing", ErrServer)
	}
	if s.appID == 0 {
		id, err := jwtAppID(tok)
		if err != nil {
			return "", fmt.Errorf("%w: pass the SDKAppID: %w", ErrServer, err)
		}
		s.appID = id
	}
	return tok, nil
}

// jwtAppID reads the sdkappid claim of a JWT the verifier minted itself,
// without verifying it: the server will.
func jwtAppID(tok string) (uint32, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%w: token is not a JWT", ErrMalformed)
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, fmt.Errorf("%w: token claims: %w", ErrMalformed, err)
	}
	var c struct {
		SDKAppID uint32 `json:"sdkappid"`
	}
	if err := json.Unmarshal(body, &c); err != nil || c.SDKAppID == 0 {
		return 0, errors.Join(ErrMalformed, errors.New("token without sdkappid"))
	}
	return c.SDKAppID, nil
}

// outputFiles returns the regular files pid's stdout and stderr point to
// (an attached server may log to a file).
func outputFiles(pid int) []string {
	var out []string
	for _, fd := range []int{1, 2} {
		p, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		if err != nil || !strings.HasPrefix(p, "/") {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

// scanLines is bufio.ScanLines with a larger buffer.
func scanLines(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	return sc
}

// alive reports whether pid exists.
func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return !errors.Is(err, fs.ErrNotExist)
}
