// Package spawn runs a `lethe serve` of its own — fresh temporary data
// dir, free loopback ports — for the tools that measure a server from
// outside (`lethe loadtest --spawn`, `lethe compliance verify`), and tells
// them where it listens and which processes are its.
package spawn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a running `lethe serve`.
type Server struct {
	URL     string // ws://127.0.0.1:PORT/v1/signal
	HTTP    string // http://127.0.0.1:PORT
	AppID   uint32 // the default application
	DataDir string
	PID     int

	cmd    *exec.Cmd
	tmp    string // removed by Stop when Start made it
	exited chan struct{}
	mu     sync.Mutex
	out    []byte // everything serve printed, stdout and stderr
}

var (
	signalRE = regexp.MustCompile(`signaling:\s+(wss?://(\S+)/v1/signal)`)
	appRE    = regexp.MustCompile(`SDKAppID (\d+)`)
)

// Start runs exe serve with a new data dir (under dir, or a temporary one
// removed by Stop), listening on free loopback ports, plus extra flags.
// It returns once the server has printed its banner.
func Start(ctx context.Context, exe, dir string, extra ...string) (*Server, error) {
	s := &Server{exited: make(chan struct{})}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lethe-spawn-")
		if err != nil {
			return nil, err
		}
		s.tmp, dir = tmp, tmp
	}
	s.DataDir = filepath.Join(dir, "data")
	// --drain-timeout 0: a server of one run stops at its SIGTERM, nobody to wait for.
	args := append([]string{"serve", "--data-dir", s.DataDir, "--listen", "127.0.0.1:0", "--udp-port", "0", "--turn-port", "0",
		"--drain-timeout", "0"}, extra...)
	s.cmd = exec.Command(exe, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("spawn: %w", err)
	}
	s.PID = s.cmd.Process.Pid
	banner := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			s.mu.Lock()
			s.out = append(append(s.out, sc.Bytes()...), '\n')
			out := s.out
			s.mu.Unlock()
			if !signalled && signalRE.Match(out) && appRE.Match(out) {
				signalled = true
				close(banner)
			}
		}
	}()
	go func() {
		_ = s.cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-banner:
	case <-s.exited:
		err := fmt.Errorf("spawn: lethe serve exited early: %s", s.Output())
		s.cleanup()
		return nil, err
	case <-timer.C:
		s.Stop()
		return nil, errors.New("spawn: lethe serve printed no banner in 30s")
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
	out := s.Output()
	m := signalRE.FindStringSubmatch(out)
	s.URL, s.HTTP = m[1], "http://"+m[2]
	if strings.HasPrefix(s.URL, "wss://") {
		s.HTTP = "https://" + m[2]
	}
	id, _ := strconv.ParseUint(appRE.FindStringSubmatch(out)[1], 10, 32)
	s.AppID = uint32(id)
	return s, nil
}

// Output is everything the server has printed so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.out)
}

// Stop sends SIGTERM, waits up to 15 s (then kills), and removes the data
// dir if Start made it.
func (s *Server) Stop() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}
