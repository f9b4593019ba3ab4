package verify

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/lethe-rtc/lethe/signaling"
)

// The positive control's protocol: the verifier writes one JSON job line
// to its stdin and closes stdin to stop it; it prints "joined" and then
// "leaked N" lines on stdout (N bytes written so far) and, at the end,
// "done". Everything it leaks goes to LeakFile and stderr.
const (
	controlJoined     = "joined"
	controlLeaked     = "leaked"
	controlDone       = "done"
	controlLeakFile   = "leaked-media.bin"
	controlReportTick = 200 * time.Millisecond
	controlStopWait   = 10 * time.Second
	// controlMinLeak is how much the control must have stored before the
	// verifier samples it: several pages, so write_bytes must grow.
	controlMinLeak = 64 << 10
)

// ControlJob is what the positive control is told on stdin.
type ControlJob struct {
	URL     string `json:"url"`
	AppID   uint32 `json:"sdkAppId"`
	UserID  string `json:"userId"`
	UserSig string `json:"userSig"`
	RoomID  uint32 `json:"roomId"`
	// Dir is where it stores what it receives, in LeakFile.
	Dir string `json:"dir"`
	// E2EESecret, when set, is the room secret: the control decrypts
	// the frames it receives and stores (and prints) the plaintext.
	E2EESecret string `json:"e2eeSecret,omitempty"`
}

// RunPositiveControl is the deliberately leaking writer: it joins the room
// of the job it reads from stdin, receives every track, appends each
// payload to <Dir>/leaked-media.bin and prints some of them to stderr in
// base64 and hex — exactly what Lethe must never do — until stdin is
// closed or ctx ends. The verifier runs it as a child process of its own
// (never of the server) and requires each of its scanners to catch it.
func RunPositiveControl(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("positive control: job: %w", err)
	}
	var job ControlJob
	if err := json.Unmarshal(line, &job); err != nil {
		return fmt.Errorf("positive control: job: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(job.Dir, controlLeakFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("positive control: %w", err)
	}
	defer f.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // stdin closed: stop
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()

	var (
		mu      sync.Mutex // f and stderr
		written atomic.Int64
		n       int
	)
	c, err := client.Dial(ctx, job.URL, client.Options{})
	if err != nil {
		return fmt.Errorf("positive control: %w", err)
	}
	defer c.Close()
	leak := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		if k, err := f.Write(b); err == nil {
			written.Add(int64(k))
		}
		switch n++; n % 10 {
		case 0:
			fmt.Fprintf(stderr, "leak b64 %s\n", base64.StdEncoding.EncodeToString(b))
		case 5:
			fmt.Fprintf(stderr, "leak hex %s\n", hex.EncodeToString(b))
		}
	}
	var ring *e2ee.Ring
	if job.E2EESecret != "" {
		if ring, err = e2ee.NewRingWith([]byte(job.E2EESecret)); err != nil {
			return fmt.Errorf("positive control: %w", err)
		}
	}
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var fr *client.FrameReader
		if ring != nil {
			if fr, _ = client.NewFrameReader(ring, tr.StreamID(), tr.Codec().MimeType); fr != nil {
				fr.OnFrame = func(_ uint32, plain []byte) { leak(plain) }
			}
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if fr != nil {
				fr.Push(pkt)
			} else {
				leak(pkt.Payload)
			}
		}
	})
	jctx, jcancel := context.WithTimeout(ctx, joinTimeout)
	_, err = c.Join(jctx, signaling.Join{SDKAppID: job.AppID, UserID: job.UserID, UserSig: job.UserSig, RoomID: job.RoomID})
	jcancel()
	if err != nil {
		return fmt.Errorf("positive control: %w", err)
	}
	fmt.Fprintln(stdout, controlJoined)
	t := time.NewTicker(controlReportTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = c.Close()
			fmt.Fprintln(stdout, controlLeaked, written.Load())
			fmt.Fprintln(stdout, controlDone)
			return nil
		case <-t.C:
			fmt.Fprintln(stdout, controlLeaked, written.Load())
		}
	}
}

// control is the verifier's handle on a running positive control.
type control struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *capture
	stderr *capture
	pid    int
	dir    string
	file   string
	leaked atomic.Int64
	joined chan struct{}
	exited chan struct{}
	ioFrom compliance.IO
}

// startControl runs exe with args (the positive-control mode) and gives it
// job.
func startControl(exe string, args []string, job ControlJob) (*control, error) {
	c := &control{
		stdout: &capture{}, stderr: &capture{}, dir: job.Dir,
		file:   filepath.Join(job.Dir, controlLeakFile),
		joined: make(chan struct{}), exited: make(chan struct{}),
	}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("positive control: %w", err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("positive control: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("positive control: %w", err)
	}
	c.pid = c.cmd.Process.Pid
	c.ioFrom, _ = compliance.ReadIO(c.pid)
	read := make(chan struct{})
	go func() {
		defer close(read)
		var once sync.Once
		sc := scanLines(out)
		for sc.Scan() {
			l := sc.Text()
			fmt.Fprintln(c.stdout, l)
			switch f := strings.Fields(l); {
			case l == controlJoined:
				once.Do(func() { close(c.joined) })
			case len(f) == 2 && f[0] == controlLeaked:
				if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					c.leaked.Store(n)
				}
			}
		}
	}()
	go func() {
		<-read
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	b, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("positive control: %w", err)
	}
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.kill()
		return nil, fmt.Errorf("positive control: %w", err)
	}
	return c, nil
}

// waitJoined waits for the control to be in its room.
func (c *control) waitJoined(ctx context.Context) error {
	select {
	case <-c.joined:
		return nil
	case <-c.exited:
		return fmt.Errorf("positive control exited: %s", lastLine(c.stderr.Bytes()))
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(joinTimeout):
		return errors.New("positive control did not join in time")
	}
}

// waitLeaked waits until the control has stored at least n bytes, or d.
func (c *control) waitLeaked(ctx context.Context, n int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for c.leaked.Load() < n && time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop closes the control's stdin and waits for it to exit.
func (c *control) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(controlStopWait):
		c.kill()
	}
}

func (c *control) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}
