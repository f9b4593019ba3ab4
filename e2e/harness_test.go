package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/syncbuf"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// lethePath is the binary under test, built once by TestMain.
var lethePath string

// letheBinEnv names the lethe binary the tests run, for the test binary
// when it runs itself again.
const letheBinEnv = "LETHE_E2E_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(clientHelperEnv) != "" {
		os.Exit(runClientHelper())
	}
	if os.Getenv(reaperHelperEnv) != "" {
		os.Exit(runReaperHelper())
	}
	// A test run again in a namespace of its own (runInNetns, netlab)
	// uses the binary its first run built.
	if p := os.Getenv(letheBinEnv); p != "" {
		lethePath = p
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "lethe-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lethePath = filepath.Join(dir, "lethe")
	build := exec.Command("go", "build", "-o", lethePath, "../cmd/lethe")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lethe:", err)
		os.Exit(1)
	}
	os.Setenv(letheBinEnv, lethePath)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running `lethe serve`.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	url     string      // ws://.../v1/signal, or wss://
	tls     *tls.Config // for wss: the test CA's roots (dialWith's default)
	appID   uint32
	stdout  syncbuf.Buffer
	stderr  syncbuf.Buffer
	exited  chan struct{}

	secretsMu sync.Mutex
	secrets   []string // user ids and tokens that must never appear in output
}

var (
	signalRE = regexp.MustCompile(`signaling:\s+(wss?://\S+)`)
	appRE    = regexp.MustCompile(`SDKAppID (\d+)`)
)

// startServer runs lethe serve on free loopback ports with a fresh data
// dir, and stops it when the test ends.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	return startServerIn(t, filepath.Join(t.TempDir(), "data"), args...)
}

// startServerIn is startServer on the data dir dataDir, fresh or not (a
// restart: the data dir of a server that has stopped).
func startServerIn(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	return startServerWith(t, dataDir, nil, nil, append([]string{"--listen", "127.0.0.1:0", "--udp-port", "0", "--turn-port", "0"}, args...)...)
}

// startServerEnv runs lethe serve --data-dir dataDir with args alone (no
// --listen, no --udp-port) and env added to the environment.
func startServerEnv(t *testing.T, dataDir string, env []string, args ...string) *server {
	t.Helper()
	return startServerWith(t, dataDir, nil, env, args...)
}

// startServerWith runs lethe serve --data-dir dataDir with args alone and
// env added to the environment, through the command that command makes
// (in another network namespace, say; nil: on this host).
func startServerWith(t *testing.T, dataDir string, command func(args ...string) *exec.Cmd, env []string, args ...string) *server {
	t.Helper()
	if command == nil {
		command = func(args ...string) *exec.Cmd { return exec.Command(lethePath, args...) }
	}
	s := &server{t: t, dataDir: dataDir, exited: make(chan struct{})}
	// --drain-timeout 0: stopping at the end of a test tells whoever is
	// still connected to go away at once. A test of the drain passes its own.
	all := append([]string{"serve", "--data-dir", s.dataDir, "--drain-timeout", "0"}, args...)
	s.cmd = command(all...)
	if env != nil {
		s.cmd.Env = append(os.Environ(), env...)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = pw
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(&s.stdout, sc.Text())
		}
	}()
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop()
		s.checkOutputHygiene()
	})

	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := s.stdout.String()
		if m := signalRE.FindStringSubmatch(out); m != nil {
			if a := appRE.FindStringSubmatch(out); a != nil {
				s.url = m[1]
				id, _ := strconv.ParseUint(a[1], 10, 32)
				s.appID = uint32(id)
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("lethe serve exited early:\n%s\n%s", s.stdout.String(), s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("lethe serve did not start:\n%s\n%s", s.stdout.String(), s.stderr.String())
	return nil
}

// stop sends SIGTERM and waits; a server still running after 15 s fails
// the test. No worker may outlive it.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	workers := s.workerPIDs()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Errorf("lethe serve did not stop within 15s after SIGTERM")
		<-s.exited
	}
	for _, pid := range workers {
		if err := syscall.Kill(pid, 0); err == nil {
			s.t.Errorf("worker %d still running after serve exited", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// signal sends sig to the serve process.
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits up to d for serve to exit and returns its exit code.
func (s *server) waitExit(d time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		s.t.Fatalf("serve did not exit within %v:\n%s", d, s.stderr.String())
		return -1
	}
}

// waitLog waits until serve's log holds text.
func (s *server) waitLog(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.stderr.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log %q:\n%s", text, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOutputHygiene fails the test if anything serve or its workers
// printed contains a user id or a token the test used.
//
// It also looks for SDP bodies (every SDP carries these attributes), the
// admin key, and the default application's signing keys.
func (s *server) checkOutputHygiene() {
	out := s.stdout.String() + s.stderr.String()
	s.secretsMu.Lock()
	defer s.secretsMu.Unlock()
	for _, secret := range s.secrets {
		if strings.Contains(out, secret) {
			s.t.Errorf("server output contains a user id or token (%.12s...)", secret)
		}
	}
	for _, sdp := range []string{"a=ice-pwd", "a=fingerprint", "a=ice-ufrag", "v=0\r\n"} {
		if strings.Contains(out, sdp) {
			s.t.Errorf("server output contains SDP (%q)", sdp)
		}
	}
	for _, name := range []string{store.AdminKeyFile, store.AuditorKeyFile} {
		if key, err := os.ReadFile(filepath.Join(s.dataDir, name)); err == nil {
			if k := strings.TrimSpace(string(key)); k != "" && strings.Contains(out, k) {
				s.t.Errorf("server output contains the key of %s", name)
			}
		}
	}
	keys := s.signingSecrets()
	if len(keys) == 0 {
		s.t.Error("hygiene check: could not read the signing keys to look for")
	}
	for _, k := range keys {
		if strings.Contains(out, k) {
			s.t.Error("server output contains a signing key")
		}
	}
}

// signingSecrets reads the default application's key secrets from the store.
func (s *server) signingSecrets() []string {
	st, err := store.Open(context.Background(), filepath.Join(s.dataDir, store.DBFile))
	if err != nil {
		return nil
	}
	defer st.Close()
	ring, err := st.Ring(context.Background(), s.appID)
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range ring.Keys {
		out = append(out, string(k.Secret))
	}
	return out
}

func (s *server) keepSecret(v string) {
	s.secretsMu.Lock()
	s.secrets = append(s.secrets, v)
	s.secretsMu.Unlock()
}

// workerPIDs lists the serve process's children: its media workers.
func (s *server) workerPIDs() []int {
	var pids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", s.cmd.Process.Pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(field); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// token mints a UserSig of the default app with the real `lethe token`.
func (s *server) token(user string, extra ...string) string {
	return s.tokenFor(s.appID, user, extra...)
}

// tokenFor mints a UserSig (or, with --private-map-key, a privateMapKey)
// for user of app.
func (s *server) tokenFor(app uint32, user string, extra ...string) string {
	s.t.Helper()
	s.keepSecret(user)
	args := append([]string{"token", "--data-dir", s.dataDir, "--app", strconv.FormatUint(uint64(app), 10), "--user", user}, extra...)
	tok := strings.TrimSpace(s.run(args...))
	s.keepSecret(tok)
	return tok
}

// run runs the lethe binary with args and returns its standard output.
func (s *server) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(lethePath, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.t.Fatalf("lethe %s: %v: %s", args[0], err, ee.Stderr)
		}
		s.t.Fatalf("lethe %s: %v", args[0], err)
	}
	return string(out)
}

// app runs `lethe app` against this server's admin API.
func (s *server) app(args ...string) string {
	s.t.Helper()
	return s.run(append([]string{"app", "--server", s.httpBase(), "--admin-key-file", filepath.Join(s.dataDir, "admin.key")}, args...)...)
}

// httpBase is the server's http:// (or https://) scheme and address.
func (s *server) httpBase() string {
	u := strings.Replace(strings.Replace(s.url, "wss://", "https://", 1), "ws://", "http://", 1)
	return strings.TrimSuffix(u, "/v1/signal")
}

// httpClient is an http.Client for httpBase: over TLS, trusting s.tls's
// roots only.
func (s *server) httpClient() *http.Client {
	if s.tls == nil {
		return &http.Client{Timeout: 10 * time.Second}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: s.tls.Clone(), DisableKeepAlives: true}}
}

// participant is a connected, joined client.
type participant struct {
	*client.Client
	user   string
	uid    string // the user id it joined with
	joined *signaling.Joined
	tracks chan *webrtc.TrackRemote
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (s *server) dial(t *testing.T) *client.Client {
	t.Helper()
	return s.dialWith(t, client.Options{})
}

// dialWith is dial with client options.
func (s *server) dialWith(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	if opts.TLSConfig == nil {
		opts.TLSConfig = s.tls
	}
	c, err := client.Dial(ctxT(t, 10*time.Second), s.url, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// join connects user to a numeric room (or strRoom when room is 0) with a
// token of the default app. The user id is user plus a random suffix, so
// that it can be looked for in the server's output.
func (s *server) join(t *testing.T, user string, room uint32, strRoom string) *participant {
	t.Helper()
	p, err := s.tryJoin(t, joinOpts{user: user, room: room, strRoom: strRoom})
	if err != nil {
		t.Fatalf("join %s: %v", user, err)
	}
	return p
}

// joinOpts varies a join: another app, a role, token flags for lethe
// token, a privateMapKey.
type joinOpts struct {
	user          string
	room          uint32
	strRoom       string
	app           uint32 // default: the server's default app
	role          signaling.Role
	tokenArgs     []string // extra `lethe token` flags
	userSig       string   // instead of minting one
	privateMapKey string
	client        client.Options
	data          bool // open data channels (signaling.Join.Data)
}

func (s *server) tryJoin(t *testing.T, o joinOpts) (*participant, error) {
	t.Helper()
	uid := o.user + "-" + rand.Text()[:10]
	if o.app == 0 {
		o.app = s.appID
	}
	if o.userSig == "" {
		o.userSig = s.tokenFor(o.app, uid, o.tokenArgs...)
	}
	c := s.dialWith(t, o.client)
	p := &participant{Client: c, user: o.user, uid: uid, tracks: make(chan *webrtc.TrackRemote, 32)}
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.tracks <- tr })
	j, err := c.Join(ctxT(t, 10*time.Second), signaling.Join{
		SDKAppID: o.app, UserID: uid, UserSig: o.userSig, RoomID: o.room, StrRoomID: o.strRoom,
		Role: o.role, PrivateMapKey: o.privateMapKey, Data: o.data,
	})
	if err != nil {
		return nil, err
	}
	p.joined = j
	return p, nil
}

// publishAV publishes a video track (VP8 or H.264) and an Opus track,
// started and closed with the test.
func (p *participant) publishAV(t *testing.T, h264 bool, opts client.SourceOptions) []*client.Track {
	t.Helper()
	newVideo := client.NewVP8Track
	if h264 {
		newVideo = client.NewH264Track
	}
	v, err := newVideo("video-"+p.user, "stream-"+p.user, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.NewOpusTrack("audio-"+p.user, "stream-"+p.user, client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctxT(t, 10*time.Second), v, a); err != nil {
		t.Fatalf("publish %s: %v", p.user, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	a.Start(ctx)
	t.Cleanup(func() {
		cancel()
		_ = v.Close()
		_ = a.Close()
	})
	return []*client.Track{v, a}
}

// waitEvent waits for an event of type typ matching ok.
func waitEvent(t *testing.T, c *client.Client, typ string, d time.Duration, ok func(client.Event) bool) client.Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-c.Events():
			if e.Type == typ && (ok == nil || ok(e)) {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within %v", typ, d)
			return client.Event{}
		}
	}
}

// checkTrack runs a Checker on a remote track until the test ends.
func checkTrack(t *testing.T, tr *webrtc.TrackRemote) *client.Checker {
	ch := client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ch.Run(ctx, tr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

// firstVideo waits for p's next remote video track and checks it until
// the test ends. The audio tracks it passes are read too (and checked,
// unseen): a track nobody reads has its packets reported lost in the
// transport-wide feedback, which makes the server's estimate of p's
// downlink collapse.
func (p *participant) firstVideo(t *testing.T) *client.Checker {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case tr := <-p.tracks:
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				return checkTrack(t, tr)
			}
			checkTrack(t, tr)
		case <-timeout:
			t.Fatalf("%s received no video track", p.user)
			return nil
		}
	}
}

// leakCheck verifies, after every other cleanup, that the test left no
// goroutine behind.
func leakCheck(t *testing.T) {
	// What runs now (other parallel work, the runtime) is not this test's:
	// take the snapshot before the test starts anything.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// trackID returns the server id of one of p's published tracks.
func (p *participant) trackID(t *testing.T) string {
	t.Helper()
	for _, local := range []string{"video-" + p.user, "audio-" + p.user} {
		if id, ok := p.ServerTrackID(local); ok {
			return id
		}
	}
	t.Fatalf("%s has no published track", p.user)
	return ""
}
