package e2e

import (
	"context"
	"encoding/json"
	"github.com/lethe-rtc/lethe/internal/netlab"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser tests drive Debian's Chromium (never a downloaded build) with
// chromedp. As root they run inside a network namespace that holds only
// lo: the test binary re-executes itself under `unshare -n`, so the
// browser, the lethe server and the Go clients all live there.
const (
	chromiumPath    = "/usr/bin/chromium"
	browserNetnsEnv = "LETHE_BROWSER_NETNS" // set in the re-executed test binary
	screenshotEnv   = "LETHE_SCREENSHOT"    // where to save the demo screenshot, relative to the repository root
)

// needBrowser skips (or, under CI=true, fails) when Chromium is missing,
// and moves the test into a fresh network namespace when running as root.
// It reports whether the caller should go on: false means the test already
// ran in the namespace.
func needBrowser(t *testing.T) bool {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s is missing: .ci/run must install Debian's chromium package", chromiumPath)
		}
		t.Skipf("browser tests skipped: %s not found (apt-get install chromium)", chromiumPath)
	}
	if os.Geteuid() != 0 || os.Getenv(browserNetnsEnv) != "" {
		return true
	}
	runInNetns(t)
	return false
}

// runInNetns runs this test again in a new network namespace with only lo
// up, streams its output, and fails t if it fails.
func runInNetns(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("running as root: browser tests must run in a network namespace, and unshare is missing: %v", err)
	}
	netlab.RunAgain(t, "[netns]", []string{"unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`}, browserNetnsEnv+"=1")
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	ctx    context.Context // the first tab; new tabs are opened from it
	cancel context.CancelFunc
}

// reach are newBrowser's options to reach the hosts of origins besides
// 127.0.0.1 (a lab's server, "http://10.231.2.2:port") and to treat them
// as secure contexts, as it does 127.0.0.1, so that their pages may use
// the camera.
func reach(t *testing.T, origins ...string) []chromedp.ExecAllocatorOption {
	t.Helper()
	rules := "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil {
			t.Fatal(err)
		}
		rules += ", EXCLUDE " + u.Hostname()
	}
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("host-resolver-rules", rules),
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", strings.Join(origins, ",")),
	}
}

// newBrowser starts Chromium, with extra options after (and over) its
// own. It resolves no name and reaches no address but 127.0.0.1, unless
// extra says otherwise (reach).
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1280, 720),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx, cancel: func() { cancel(); cancelAlloc() }}
	t.Cleanup(b.cancel)
	return b
}

// page is one tab showing the demo page.
type page struct {
	t      *testing.T
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// newPage opens a new tab. (The browser's first tab stays blank: closing
// it would end the browser.)
func (b *browser) newPage(t *testing.T, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: new tab: %v", name, err)
	}
	t.Cleanup(cancel)
	return &page{t: t, name: name, ctx: ctx, cancel: cancel}
}

// pageURL is the demo page of s, with a token in the fragment when
// token is set.
func (s *server) pageURL(token, user, room string) string {
	u := s.httpBase() + "/"
	if token == "" {
		return u
	}
	f := url.Values{"token": {token}, "app": {strconv.FormatUint(uint64(s.appID), 10)}, "user": {user}, "room": {room}}
	return u + "#" + f.Encode()
}

// open loads u and waits until the page's script is ready.
func (p *page) open(u string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`))); err != nil {
		p.t.Fatalf("%s: open the demo page: %v", p.name, err)
	}
}

// join fills the lobby form and presses Join; publish unticks the camera
// box when false. It waits until the room is joined.
func (p *page) join(user, room string, publish bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.SetValue(chromedp.CSS("#name"), user),
		chromedp.SetValue(chromedp.CSS("#room"), room),
	}
	if !publish {
		actions = append(actions, chromedp.Click(chromedp.CSS("#publish")))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS("#join")))
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: join form: %v", p.name, err)
	}
	p.waitJS(`letheDemo.room?.state === "joined"`, 20*time.Second)
	if publish {
		p.waitJS(`letheDemo.room.localTracks.length === 2 && letheDemo.room.localTracks.every(t => t.trackId)`, 20*time.Second)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into out,
// through JSON.
func (p *page) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// mustEval is eval that fails the test.
func (p *page) mustEval(expr string, out any) {
	p.t.Helper()
	if err := p.eval(expr, out); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, expr, err)
	}
}

// waitJS polls a boolean expression until it holds.
func (p *page) waitJS(cond string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		var ok bool
		if lastErr = p.eval("!!("+cond+")", &ok); lastErr == nil && ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("%s: %s did not hold within %v (last error %v); page events: %s", p.name, cond, d, lastErr, p.events())
}

// events returns the page's event log, for failure messages.
func (p *page) events() string {
	var ev []map[string]any
	if err := p.eval(`letheDemo.events.map(e => ({...e, at: undefined}))`, &ev); err != nil {
		return "(" + err.Error() + ")"
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// participantID is the page's current participant id.
func (p *page) participantID() string {
	p.t.Helper()
	var id string
	p.mustEval(`letheDemo.room?.participantId ?? ""`, &id)
	return id
}

// inbound is one inbound-rtp entry of the subscriber PeerConnection's
// getStats, with the participant and server track id lethe.js bound its
// m-section to (from the section's a=msid).
type inbound struct {
	ID              string `json:"id"`
	Kind            string `json:"kind"`
	Mime            string `json:"mime"`
	ParticipantID   string `json:"participantId"`
	TrackID         string `json:"trackId"`
	PacketsReceived int    `json:"packetsReceived"`
	FramesDecoded   int    `json:"framesDecoded"`
}

// inboundJS reads the subscriber PeerConnection's getStats directly.
const inboundJS = `(async () => {
  const room = letheDemo.room;
  const pc = room?.subscriberPC;
  if (!pc) return [];
  const rep = await pc.getStats();
  const byMid = new Map();
  for (const p of room.participants.values()) for (const t of p.tracks.values()) if (t.mid != null) byMid.set(t.mid, t);
  const out = [];
  for (const r of rep.values()) {
    if (r.type !== "inbound-rtp") continue;
    const t = byMid.get(r.mid);
    const codec = r.codecId ? rep.get(r.codecId) : null;
    out.push({id: r.id, kind: r.kind, mime: codec?.mimeType ?? "", participantId: t?.participantId ?? "",
      trackId: t?.trackId ?? "", packetsReceived: r.packetsReceived ?? 0, framesDecoded: r.framesDecoded ?? 0});
  }
  return out;
})()`

// inbound returns the page's received streams.
func (p *page) inbound() []inbound {
	p.t.Helper()
	var in []inbound
	p.mustEval(inboundJS, &in)
	return in
}

// waitReceiving waits until, from participant pid, the page decodes at
// least minFrames video frames and (with wantAudio) receives audio
// packets, counted from the call: media must be flowing now, so stale
// stats of earlier connections cannot pass. It returns the inbound
// entries of pid's video.
func (p *page) waitReceiving(pid string, minFrames int, wantAudio bool, d time.Duration) []inbound {
	p.t.Helper()
	base := map[string]inbound{}
	for _, in := range p.inbound() {
		base[in.ID] = in
	}
	deadline := time.Now().Add(d)
	var last []inbound
	for time.Now().Before(deadline) {
		last = p.inbound()
		frames, audio := 0, 0
		var video []inbound
		for _, in := range last {
			if in.ParticipantID != pid {
				continue
			}
			b := base[in.ID]
			switch in.Kind {
			case "video":
				frames = max(frames, in.FramesDecoded-b.FramesDecoded)
				video = append(video, in)
			case "audio":
				audio = max(audio, in.PacketsReceived-b.PacketsReceived)
			}
		}
		if frames >= minFrames && (!wantAudio || audio > 0) {
			return video
		}
		time.Sleep(300 * time.Millisecond)
	}
	p.t.Fatalf("%s: from %s: not %d new decoded frames (and audio: %v) within %v; inbound: %+v; events: %s",
		p.name, pid, minFrames, wantAudio, d, last, p.events())
	return nil
}

// screenshot saves a PNG of the page's viewport to the path named by
// LETHE_SCREENSHOT (relative to the repository root), if set.
func (p *page) screenshot() {
	p.t.Helper()
	dst := os.Getenv(screenshotEnv)
	if dst == "" {
		return
	}
	if !filepath.IsAbs(dst) {
		dst = filepath.Join("..", dst)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	if err := os.WriteFile(dst, png, 0o644); err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	p.t.Logf("screenshot of %s saved to %s", p.name, dst)
}

// closePage closes the tab (the page's pagehide runs; its WebSocket closes).
func (p *page) closePage() {
	p.cancel()
}
