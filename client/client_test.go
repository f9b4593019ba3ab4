package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

var origin = http.Header{"Origin": {"http://127.0.0.1"}}

func dial(t *testing.T, ctx context.Context, url string, opts client.Options) *client.Client {
	t.Helper()
	opts.Header = origin
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func join(t *testing.T, ctx context.Context, c *client.Client) *signaling.Joined {
	t.Helper()
	j, err := c.Join(ctx, signaling.Join{SDKAppID: 1, UserID: "u1", UserSig: "sig", RoomID: 7})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestLoopbackMedia publishes VP8 and Opus through real PeerConnections to
// the fake server, which sends them back on the subscriber PeerConnection,
// and checks every packet that comes back.
func TestLoopbackMedia(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	srv := newFakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c := dial(t, ctx, srv.URL, client.Options{})
	var (
		mu       sync.Mutex
		checkers = map[string]*client.Checker{} // by kind
		ids      = map[string]string{}          // kind → stream id/track id
	)
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ch := client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
		mu.Lock()
		checkers[tr.Kind().String()] = ch
		ids[tr.Kind().String()] = tr.StreamID() + "/" + tr.ID()
		mu.Unlock()
		if err := ch.Run(context.Background(), tr); err != nil {
			t.Errorf("checker: %v", err)
		}
	})
	var events []client.Event
	var evWG sync.WaitGroup
	evWG.Add(1)
	go func() {
		defer evWG.Done()
		for e := range c.Events() {
			events = append(events, e)
		}
	}()

	joined := join(t, ctx, c)
	if joined.ParticipantID != "P1" || c.ParticipantID() != "P1" || joined.Room.RoomID != 7 {
		t.Fatalf("joined %s", mustJSON(joined))
	}

	video, err := client.NewVP8Track("v0", "s0", client.SourceOptions{Bitrate: 600_000, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := client.NewOpusTrack("a0", "s0", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, video, audio); err != nil {
		t.Fatal(err)
	}
	video.Start(ctx)
	audio.Start(ctx)

	stats := func(kind string) (client.CheckerStats, bool) {
		mu.Lock()
		defer mu.Unlock()
		ch := checkers[kind]
		if ch == nil {
			return client.CheckerStats{}, false
		}
		return ch.Stats(), true
	}
	for {
		v, okV := stats("video")
		a, okA := stats("audio")
		if okV && okA && v.Keyframes >= 1 && v.Packets >= 60 && a.Packets >= 25 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out: video %+v audio %+v", v, a)
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Round trips over the signaling connection.
	if rtt, err := c.Ping(ctx); err != nil || rtt <= 0 {
		t.Fatalf("ping: %v %v", rtt, err)
	}
	vid, ok := c.ServerTrackID("v0")
	if !ok || !strings.HasPrefix(vid, "T") {
		t.Fatalf("server id of v0: %q %v", vid, ok)
	}
	if err := c.Mute(ctx, vid, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, vid); err != nil {
		t.Fatal(err)
	}

	if err := c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), client.ErrBye) {
		t.Fatalf("Err after leave: %v", c.Err())
	}
	_ = video.Close()
	_ = audio.Close()
	evWG.Wait() // Events is closed once the connection ended
	srv.Close()

	v, _ := stats("video")
	a, _ := stats("audio")
	t.Logf("video %+v", v)
	t.Logf("audio %+v", a)
	for kind, st := range map[string]client.CheckerStats{"video": v, "audio": a} {
		if st.BadMarkers != 0 || st.Lost != 0 || st.BadRTP != 0 || st.Streams != 1 {
			t.Errorf("%s: %+v", kind, st)
		}
		if st.LatencyP99 <= 0 || st.LatencyP99 > time.Second {
			t.Errorf("%s: p99 latency %v", kind, st.LatencyP99)
		}
	}
	if vs := video.Stats(); vs.Keyframes < 2 {
		t.Errorf("video source sent %d keyframes; the server's PLI was not honoured", vs.Keyframes)
	}
	if ids["video"] != "P1/"+vid {
		t.Errorf("remote video track is %q, want P1/%s", ids["video"], vid)
	}
	var published, bye int
	for _, e := range events {
		switch d := e.Data.(type) {
		case *signaling.TrackPublished:
			published++
		case *signaling.Bye:
			bye++
			if d.Reason != "left" {
				t.Errorf("bye %+v", d)
			}
		case error:
			t.Errorf("local error event: %v", d)
		}
	}
	if published != 2 || bye != 1 {
		t.Errorf("%d trackPublished, %d bye events", published, bye)
	}
	goleak.VerifyNone(t, leaks)
}

func TestJoinRefused(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	srv := newFakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, ctx, srv.URL, client.Options{})
	_, err := c.Join(ctx, signaling.Join{SDKAppID: 1, UserID: "u1", UserSig: "bad", RoomID: 7})
	var ce *signaling.CodedError
	if !errors.As(err, &ce) || ce.Code != signaling.CodeTokenSignature {
		t.Fatalf("join error %v", err)
	}

	// Low level: a request of unknown type, and a raw message.
	env, err := c.Request(ctx, "nope", nil)
	if !errors.As(err, &ce) || ce.Code != signaling.CodeUnknownType || env.Type != signaling.TypeError {
		t.Fatalf("Request(nope) = %+v, %v", env, err)
	}
	if err := c.SendRaw([]byte(`{"type":"nope","id":99}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-c.Events():
		d, ok := e.Data.(*signaling.Error)
		if e.Type != signaling.TypeError || e.ID != 99 || !ok || d.Code != signaling.CodeUnknownType {
			t.Fatalf("event %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("no error event")
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Fatalf("Err = %v", c.Err())
	}
	if _, err := c.Ping(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("ping after close: %v", err)
	}
	srv.Close()
	goleak.VerifyNone(t, leaks)
}

// TestSlowEventConsumer floods events at a client nobody reads events
// from: the reader must go on (ping works) and count what it drops.
func TestSlowEventConsumer(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	srv := newFakeServer(t)
	srv.FloodEvents = 500
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, ctx, srv.URL, client.Options{EventBuffer: 8})
	join(t, ctx, c)
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.DroppedEvents(); got != 500-8 {
		t.Fatalf("dropped %d events, want %d", got, 500-8)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range c.Events() {
		n++
	}
	if n != 8 {
		t.Fatalf("%d buffered events", n)
	}
	srv.Close()
	goleak.VerifyNone(t, leaks)
}

// A participants message reaches the consumer as the events it stands
// for, in the order to apply them: left, joined, updated.
func TestParticipantsMessage(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	srv := newFakeServer(t)
	srv.AfterJoined = []fakeMessage{
		{signaling.TypeParticipants, signaling.Participants{
			Left:    []string{"gone"},
			Joined:  []signaling.ParticipantInfo{{ParticipantID: "a", Role: signaling.RoleAnchor}, {ParticipantID: "b", Role: signaling.RoleAnchor}},
			Updated: []signaling.ParticipantInfo{{ParticipantID: "c", Role: signaling.RoleAudience}},
		}},
		{signaling.TypeParticipants, json.RawMessage(`{"left":"not a list"}`)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, ctx, srv.URL, client.Options{})
	join(t, ctx, c)
	want := []string{
		signaling.TypeParticipantLeft + " gone", signaling.TypeParticipantJoined + " a",
		signaling.TypeParticipantJoined + " b", signaling.TypeParticipantUpdated + " c audience", client.TypeLocalError,
	}
	for _, w := range want {
		var e client.Event
		select {
		case e = <-c.Events():
		case <-ctx.Done():
			t.Fatalf("no event; want %q", w)
		}
		got := e.Type
		switch d := e.Data.(type) {
		case *signaling.ParticipantLeft:
			got += " " + d.ParticipantID
		case *signaling.ParticipantInfo:
			got += " " + d.ParticipantID
			if e.Type == signaling.TypeParticipantUpdated {
				got += " " + string(d.Role)
			}
		}
		if got != w {
			t.Fatalf("event %q, want %q", got, w)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	goleak.VerifyNone(t, leaks)
}

func TestServerGoesAway(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	srv := newFakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, ctx, srv.URL, client.Options{})
	join(t, ctx, c)
	if err := c.Mute(ctx, "drop-connection", true); err == nil {
		t.Fatal("mute answered by a server that went away")
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not notice")
	}
	if err := c.Err(); err == nil || errors.Is(err, client.ErrClosed) {
		t.Fatalf("Err = %v", err)
	}
	if _, err := c.Ping(ctx); err == nil {
		t.Fatal("ping on a dead connection")
	}
	_ = c.Close()
	srv.Close()
	goleak.VerifyNone(t, leaks)
}
