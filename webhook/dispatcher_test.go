package webhook

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/testclock"
)

const testKey = "k3yK3yk3yK3yk3yK3y"

// wait bounds every wait for something the code under test must do.
const wait = 10 * time.Second

// receiver records what reaches it; answer decides each reply.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	got    chan struct{}
	answer func(n int, w http.ResponseWriter) // n: 1 for the first request
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) (*receiver, *httptest.Server) {
	r := &receiver{got: make(chan struct{}, 1000), answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.heads = append(r.heads, req.Header.Clone())
		n := len(r.bodies)
		r.mu.Unlock()
		r.got <- struct{}{}
		if r.answer != nil {
			r.answer(n, w)
		}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func (r *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(wait)
	for r.count() < n {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", r.count(), n)
		}
	}
}

// fakeTimer makes After advance clk by d and fire at once, so that the
// retry minute passes without sleeping.
func fakeAfter(clk *testclock.Clock) func(time.Duration) <-chan time.Time {
	return func(d time.Duration) <-chan time.Time {
		clk.Advance(d)
		ch := make(chan time.Time, 1)
		ch <- clk.Now()
		return ch
	}
}

func newDispatcher(t *testing.T, cfg Config, url string) *Dispatcher {
	t.Helper()
	if cfg.Lookup == nil {
		cfg.Lookup = func(_ context.Context, app uint32) (Target, error) {
			if app != 1400000001 {
				return Target{}, ErrNoWebhook
			}
			return Target{URL: url, Key: []byte(testKey)}, nil
		}
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func waitStats(t *testing.T, d *Dispatcher, app uint32, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s := d.Stats(app)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v never as wanted", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var t0 = time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)

// TestRetrySchedule: a receiver that always fails gets TRTC's schedule —
// at once, at once again, then every 10 s while under a minute from the
// first try — and the event is counted failed.
func TestRetrySchedule(t *testing.T) {
	t.Parallel()
	clk := testclock.New(t0)
	rec, srv := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	d := newDispatcher(t, Config{Now: clk.Now, After: fakeAfter(clk)}, srv.URL)
	d.Post(Event{App: 1400000001, Type: EnterRoom, RoomID: 7, UserID: "u", At: t0})
	waitStats(t, d, 1400000001, func(s Stats) bool { return s.Failed == 1 })
	var offsets []time.Duration
	for _, b := range rec.bodies {
		var m struct{ CallbackTs int64 }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, time.UnixMilli(m.CallbackTs).Sub(t0))
	}
	want := []time.Duration{0, 0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second}
	if len(offsets) != len(want) {
		t.Fatalf("tries at %v, want %v", offsets, want)
	}
	for i := range want {
		if offsets[i] != want[i] {
			t.Fatalf("tries at %v, want %v", offsets, want)
		}
	}
}

// TestRetryThenDelivered: a receiver that fails twice gets the third try,
// and the next event follows in order.
func TestRetryThenDelivered(t *testing.T) {
	t.Parallel()
	clk := testclock.New(t0)
	rec, srv := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	d := newDispatcher(t, Config{Now: clk.Now, After: fakeAfter(clk)}, srv.URL)
	d.Post(Event{App: 1400000001, Type: CreateRoom, RoomID: 7, At: t0})
	d.Post(Event{App: 1400000001, Type: EnterRoom, RoomID: 7, UserID: "u", At: t0})
	s := waitStats(t, d, 1400000001, func(s Stats) bool { return s.Delivered == 2 })
	if s.Failed != 0 || rec.count() != 4 {
		t.Fatalf("stats %+v, %d requests; want 2 delivered in 4 requests", s, rec.count())
	}
	for i, want := range []int{101, 101, 101, 103} {
		var m struct{ EventType int }
		_ = json.Unmarshal(rec.bodies[i], &m)
		if m.EventType != want {
			t.Fatalf("request %d is event %d, want %d", i, m.EventType, want)
		}
	}
}

// TestQueueBound: behind a stuck receiver an app's queue holds Queue
// events; the rest are dropped and counted; another app is not affected.
func TestQueueBound(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	_, stuck := newReceiver(t, func(int, http.ResponseWriter) { <-release })
	other, fine := newReceiver(t, nil)
	defer close(release)
	d := newDispatcher(t, Config{Queue: 3, Lookup: func(_ context.Context, app uint32) (Target, error) {
		if app == 1 {
			return Target{URL: stuck.URL, Key: []byte(testKey)}, nil
		}
		return Target{URL: fine.URL, Key: []byte(testKey)}, nil
	}}, "")
	d.Post(Event{App: 1, Type: EnterRoom, At: t0})
	waitStats(t, d, 1, func(s Stats) bool { return s.Queued == 0 }) // the first is in flight
	for range 10 {
		d.Post(Event{App: 1, Type: EnterRoom, At: t0})
	}
	if s := d.Stats(1); s.Dropped != 7 || s.Queued != 3 {
		t.Fatalf("stats %+v, want 3 queued and 7 dropped", s)
	}
	d.Post(Event{App: 2, Type: EnterRoom, At: t0})
	other.waitFor(t, 1)
}

// TestNoRedirect: a 3xx is the answer (a failure), never followed.
func TestNoRedirect(t *testing.T) {
	t.Parallel()
	target, tsrv := newReceiver(t, nil)
	_, srv := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", tsrv.URL)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	d := newDispatcher(t, Config{}, srv.URL)
	status, err := d.SendTest(context.Background(), 1400000001)
	if !errors.Is(err, ErrDelivery) || status != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, err %v; want 307 and ErrDelivery", status, err)
	}
	if n := target.count(); n != 0 {
		t.Fatalf("the redirect was followed (%d requests)", n)
	}
}

// TestTimeout: a receiver slower than the client's timeout fails, and
// the error names neither the URL nor its path.
func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	_, srv := newReceiver(t, func(int, http.ResponseWriter) { <-release })
	defer close(release)
	d := newDispatcher(t, Config{Client: NewClient(50 * time.Millisecond)}, srv.URL+"/secret-path")
	_, err := d.SendTest(context.Background(), 1400000001)
	if !errors.Is(err, ErrDelivery) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err %v, want a timeout", err)
	}
	if strings.Contains(err.Error(), "secret-path") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("the error names the URL: %v", err)
	}
}

// TestNoWebhook: an app without callback gets nothing sent; SendTest says so.
func TestNoWebhook(t *testing.T) {
	t.Parallel()
	rec, srv := newReceiver(t, nil)
	d := newDispatcher(t, Config{}, srv.URL)
	d.Post(Event{App: 1400000002, Type: EnterRoom, At: t0})
	if _, err := d.SendTest(context.Background(), 1400000002); !errors.Is(err, ErrNoWebhook) {
		t.Fatalf("err %v, want ErrNoWebhook", err)
	}
	d.Post(Event{App: 1400000001, Type: EnterRoom, At: t0})
	rec.waitFor(t, 1)
	if rec.count() != 1 {
		t.Fatalf("%d requests, want 1", rec.count())
	}
}

// TestHeadersAndBody: TRTC's headers and body shape.
func TestHeadersAndBody(t *testing.T) {
	t.Parallel()
	rec, srv := newReceiver(t, nil)
	clk := testclock.New(t0.Add(1500 * time.Millisecond))
	d := newDispatcher(t, Config{Now: clk.Now}, srv.URL)
	d.Post(Event{App: 1400000001, Type: ExitRoom, StrRoomID: "room-x", UserID: "alice", Role: RoleAnchor, Reason: ReasonRemoved, At: t0.Add(250 * time.Millisecond)})
	rec.waitFor(t, 1)
	h, b := rec.heads[0], rec.bodies[0]
	if h.Get("SdkAppId") != "1400000001" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if !Verify([]byte(testKey), b, h.Get("Sign")) {
		t.Fatalf("Sign %q does not verify", h.Get("Sign"))
	}
	want := `{"EventGroupId":1,"EventType":104,"CallbackTs":1796220001500,"EventInfo":{"RoomId":"room-x","EventTs":1796220000,"EventMsTs":1796220000250,"UserId":"alice","Role":20,"Reason":3}}`
	if string(b) != want {
		t.Fatalf("body\n%s\nwant\n%s", b, want)
	}
}

// TestSign: HMAC-SHA256 of RFC 4231 test case 2, in base64.
func TestSign(t *testing.T) {
	t.Parallel()
	want, _ := hex.DecodeString("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if got != base64.StdEncoding.EncodeToString(want) {
		t.Fatalf("Sign = %s", got)
	}
	if !Verify([]byte("Jefe"), []byte("what do ya want for nothing?"), got) || Verify([]byte("Jefe"), []byte("what do ya want for nothing!"), got) {
		t.Fatal("Verify disagrees with Sign")
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://backend.example/trtc/callback?x=1", true},
		{"http://10.0.0.5:8080/cb", true},
		{"http://[::1]:9/cb", true},
		{"ftp://backend.example/cb", false},
		{"https://user:pw@backend.example/cb", false},
		{"https://backend.example/cb#frag", false},
		{"/relative/cb", false},
		{"https://", false},
		{"https://:80/cb", false},
		{"mailto:x@example.com", false},
		{"http://backend.example/" + strings.Repeat("a", MaxURLLen), false},
		{"", false},
	} {
		if err := CheckURL(c.url); (err == nil) != c.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", c.url, err, c.ok)
		}
	}
}

func TestCheckKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key string
		ok  bool
	}{
		{testKey, true}, {strings.Repeat("a", 64), true}, {strings.Repeat("a", 15), false},
		{strings.Repeat("a", 65), false}, {"0123456789abcdef-", false}, {"0123456789abcdé", false},
	} {
		if err := CheckKey(c.key); (err == nil) != c.ok {
			t.Errorf("CheckKey(%q) = %v, want ok %v", c.key, err, c.ok)
		}
	}
}

// FuzzCheckURL: whatever CheckURL accepts is an http(s) URL with a host
// and no userinfo, that http.NewRequest takes.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://u@h/", "http://h/#", "http://%zz/", "http://[::1/", "HTTP://H/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckURL(s) != nil {
			return
		}
		if !strings.HasPrefix(strings.ToLower(s), "http://") && !strings.HasPrefix(strings.ToLower(s), "https://") {
			t.Fatalf("accepted %q", s)
		}
		if _, err := http.NewRequest(http.MethodPost, s, nil); err != nil {
			t.Fatalf("accepted %q, which NewRequest refuses: %v", s, err)
		}
	})
}

// TestIdleStop: an app's goroutine ends once its queue has been idle for
// Idle, and a later event starts another.
func TestIdleStop(t *testing.T) {
	t.Parallel()
	rec, srv := newReceiver(t, nil)
	d := newDispatcher(t, Config{Idle: 10 * time.Millisecond}, srv.URL)
	running := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.apps[1400000001] != nil
	}
	for i := 1; i <= 2; i++ {
		d.Post(Event{App: 1400000001, Type: EnterRoom, At: t0})
		rec.waitFor(t, i)
		deadline := time.Now().Add(wait)
		for running() {
			if time.Now().After(deadline) {
				t.Fatal("the app's goroutine did not stop when idle")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// BenchmarkPost is what a room event costs the registry, which posts
// under its lock: a channel send, no allocation.
func BenchmarkPost(b *testing.B) {
	d, err := New(Config{Queue: 1 << 20, Lookup: func(context.Context, uint32) (Target, error) { return Target{}, ErrNoWebhook }})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	e := Event{App: 1400000001, Type: EnterRoom, RoomID: 7, UserID: "user", Role: RoleAnchor, Reason: ReasonNormal, At: t0}
	d.Post(e) // starts the app's goroutine
	b.ReportAllocs()
	for b.Loop() {
		d.Post(e)
	}
}
