package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
)

// hookReceiver is an app backend's callback endpoint: it records every
// request and answers as its mode says.
type hookReceiver struct {
	mu       sync.Mutex
	reqs     []hookReq
	failNext int           // answer 500 to this many more requests
	hold     chan struct{} // if set, each request waits for it to close
	arrived  chan struct{}
}

type hookReq struct {
	body          []byte
	sign, sdkApp  string
	path          string
	eventType     int
	userID        string
	reason        int
	roomID        json.RawMessage
	eventGroupID  int
	callbackTsMs  int64
	eventMsTsInfo int64
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m struct {
		EventGroupId int
		EventType    int
		CallbackTs   int64
		EventInfo    struct {
			RoomId    json.RawMessage
			EventMsTs int64
			UserId    string
			Reason    int
		}
	}
	_ = json.Unmarshal(b, &m)
	h.mu.Lock()
	h.reqs = append(h.reqs, hookReq{
		body: b, sign: r.Header.Get("Sign"), sdkApp: r.Header.Get("SdkAppId"), path: r.URL.Path,
		eventType: m.EventType, userID: m.EventInfo.UserId, reason: m.EventInfo.Reason, roomID: m.EventInfo.RoomId,
		eventGroupID: m.EventGroupId, callbackTsMs: m.CallbackTs, eventMsTsInfo: m.EventInfo.EventMsTs,
	})
	fail := h.failNext > 0
	if fail {
		h.failNext--
	}
	hold := h.hold
	h.mu.Unlock()
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	if hold != nil {
		<-hold
	}
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, `{"code":0}`)
}

func (h *hookReceiver) snapshot() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// waitTypes waits until the receiver has had len(want) requests since
// from, not counting stops of video and audio (202, 204): a client's
// tracks may be seen ending just before its exit, or not (TRTC sends 104
// alone). It returns those requests, and fails unless their event types
// are want.
func (h *hookReceiver) waitTypes(t *testing.T, from int, want []int, d time.Duration) []hookReq {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var got []hookReq
		var types []int
		all := h.snapshot()
		for _, r := range all[min(from, len(all)):] {
			if r.eventType == 202 || r.eventType == 204 {
				continue
			}
			got, types = append(got, r), append(types, r.eventType)
		}
		if len(got) >= len(want) {
			if !slices.Equal(types, want) {
				t.Fatalf("events %v, want %v", types, want)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %v within %v, want %v", types, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opensslSign is the Sign of body under key as openssl computes it: an
// implementation independent of Lethe's.
func opensslSign(t *testing.T, key string, body []byte) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `openssl dgst -sha256 -hmac "$HOOK_KEY" -binary | base64`)
	cmd.Env = append(os.Environ(), "HOOK_KEY="+key)
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestWebhooks: an app's signed callbacks, end to end with the real
// binary. `lethe app webhook set` and `test` work; a scripted session
// gives 101 103 201 203 104 102 in order, every Sign verified by openssl;
// a receiver failing twice gets the third try; a receiver that hangs does
// not keep a participant from joining; and once the app is deleted
// nothing of the events, the URL or the key is left in the data dir.
func TestWebhooks(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl:", err)
	}
	leakCheck(t)
	const (
		key      = "E2eCallbackKey4fd93a1c"
		hookPath = "/lethe-hook-9c2e51"
		strRoom  = "hook-room-7b1d0c"
	)
	recv := &hookReceiver{arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	s := startServer(t)
	var app struct {
		SDKAppID uint32 `json:"sdkAppId"`
	}
	if err := json.Unmarshal([]byte(s.app("create", "--name", "hooks", "--json")), &app); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatUint(uint64(app.SDKAppID), 10)
	keyFile := filepath.Join(t.TempDir(), "hook.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.keepSecret(key)
	s.keepSecret(hookPath)
	out := s.app("webhook", "set", id, "--url", srv.URL+hookPath, "--key-file", keyFile)
	if !strings.Contains(out, hookPath) || strings.Contains(out, key) || !strings.Contains(out, "sha256:") {
		t.Fatalf("webhook set printed:\n%s", out)
	}
	if out := s.app("webhook", "test", id); !strings.Contains(out, "delivered") {
		t.Fatalf("webhook test printed:\n%s", out)
	}
	test := recv.waitTypes(t, 0, []int{100}, 10*time.Second)[0]
	if test.sdkApp != id || test.path != hookPath || test.sign != opensslSign(t, key, test.body) {
		t.Fatalf("test event: app %s path %s, Sign %s; want %s", test.sdkApp, test.path, test.sign, opensslSign(t, key, test.body))
	}

	// A scripted session: join, publish audio and video, leave.
	p, err := s.tryJoin(t, joinOpts{user: "alice", app: app.SDKAppID, room: 4242})
	if err != nil {
		t.Fatal(err)
	}
	// Video, then audio: each start is its own event, in that order.
	recv.waitTypes(t, 1, []int{101, 103}, 15*time.Second)
	publish(t, p, "video")
	recv.waitTypes(t, 1, []int{101, 103, 201}, 15*time.Second)
	publish(t, p, "audio")
	recv.waitTypes(t, 1, []int{101, 103, 201, 203}, 15*time.Second)
	_ = p.Close()
	got := recv.waitTypes(t, 1, []int{101, 103, 201, 203, 104, 102}, 15*time.Second)
	for _, r := range got {
		if want := opensslSign(t, key, r.body); r.sign != want {
			t.Errorf("event %d: Sign %s, openssl says %s", r.eventType, r.sign, want)
		}
		if r.sdkApp != id || string(r.roomID) != "4242" || r.eventGroupID != r.eventType/100 || r.callbackTsMs < r.eventMsTsInfo {
			t.Errorf("event %d: app %s room %s group %d ts %d/%d", r.eventType, r.sdkApp, r.roomID, r.eventGroupID, r.callbackTsMs, r.eventMsTsInfo)
		}
		if r.eventType != 101 && r.eventType != 102 && r.userID != p.uid {
			t.Errorf("event %d names user %q, want %q", r.eventType, r.userID, p.uid)
		}
	}
	if got[4].reason != 1 {
		t.Errorf("104 reason %d, want 1", got[4].reason)
	}

	// A receiver that fails twice gets the third try (10 s later, as
	// TRTC), and the events after it follow in order.
	recv.mu.Lock()
	recv.failNext = 2
	recv.mu.Unlock()
	from := len(recv.snapshot())
	bob, err := s.tryJoin(t, joinOpts{user: "bob", app: app.SDKAppID, strRoom: strRoom})
	if err != nil {
		t.Fatal(err)
	}
	// Gone at once: the worker's reports of its session still make its events.
	_ = bob.Close()
	got = recv.waitTypes(t, from, []int{101, 101, 101, 103, 104, 102}, 30*time.Second)
	if string(got[3].roomID) != strconv.Quote(strRoom) {
		t.Errorf("string room: RoomId %s", got[3].roomID)
	}

	// A receiver that hangs: the next participant joins all the same,
	// while the callback of its room's creation is still waiting.
	hold := make(chan struct{})
	recv.mu.Lock()
	recv.hold = hold
	select {
	case <-recv.arrived: // an earlier request's
	default:
	}
	recv.mu.Unlock()
	from = len(recv.snapshot())
	carol, err := s.tryJoin(t, joinOpts{user: "carol", app: app.SDKAppID, room: 4244})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-recv.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the 101 of carol's room never reached the receiver")
	}
	dave, err := s.tryJoin(t, joinOpts{user: "dave", app: app.SDKAppID, room: 4244})
	if err != nil {
		t.Fatalf("join behind a hanging receiver: %v", err)
	}
	recv.mu.Lock()
	pending := len(recv.reqs) - from
	recv.hold = nil
	recv.mu.Unlock()
	if pending != 1 {
		t.Errorf("%d requests reached the hanging receiver, want 1 (the others queued)", pending)
	}
	close(hold)
	_ = dave.Close()
	_ = carol.Close()
	// The held request timed out (5 s) and was tried again at once; 103s follow.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		for _, r := range recv.snapshot()[from:] {
			if r.eventType == 102 {
				n++
			}
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("carol's room was never reported dismissed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var a struct {
		Webhook struct {
			Deliveries struct{ Delivered, Failed, Dropped uint64 }
		}
	}
	if err := json.Unmarshal([]byte(s.app("get", id, "--json")), &a); err != nil {
		t.Fatal(err)
	}
	if d := a.Webhook.Deliveries; d.Delivered < 13 || d.Dropped != 0 {
		t.Errorf("deliveries %+v", d)
	}

	// The events were delivered, never kept: no user id or room name is in
	// the data dir; once the app is deleted, neither its URL nor its key.
	s.app("delete", id, "--yes")
	s.stop()
	secrets := []string{p.uid, bob.uid, carol.uid, dave.uid, strRoom, hookPath, key}
	err = filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range secrets {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds %q", filepath.Base(path), v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// publish publishes one started track of kind ("video": VP8, "audio":
// Opus) for p, closed with the test.
func publish(t *testing.T, p *participant, kind string) {
	t.Helper()
	newTrack := client.NewVP8Track
	if kind == "audio" {
		newTrack = client.NewOpusTrack
	}
	tr, err := newTrack(kind+"-"+p.user, "stream-"+p.user, client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctxT(t, 10*time.Second), tr); err != nil {
		t.Fatalf("publish %s: %v", kind, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr.Start(ctx)
	t.Cleanup(func() {
		cancel()
		_ = tr.Close()
	})
}
