package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/webrtc/v4"
)

var (
	soakCycles = flag.Int("soak.cycles", 0, "join/publish/end cycles of TestSoak; 0: a short run, as make test does (make soak: 10000)")
	soakRooms  = flag.Int("soak.rooms", 0, "rooms TestSoak cycles in at once, each with one long-lived observer; 0: 5, or 2 for a short run")

	soakServeFlags = flag.String("soak.serve-flags", "", "more flags for the lethe serve under TestSoak, space-separated (e.g. --batch-writes=false)")
)

// soakEnd is how a cycle's publisher goes away.
type soakEnd int

const (
	endLeave    soakEnd = iota // a leave, then the socket closes
	endDrop                    // the TCP connection drops: no leave, no close frame
	endClosePCs                // the PeerConnections close, the socket stays open
	soakEnds
)

func (e soakEnd) String() string {
	return [...]string{"leave", "dropped socket", "closed PeerConnections"}[e]
}

// TestSoak runs join/publish/end cycles against one server, ending the
// sessions every way a client can, with a long-lived observer in every
// room that checks each cycle's audio and video by marker. At the end both
// processes must be back where they started after warm-up: no session
// left, and goroutines, heap, RSS and descriptors within a few percent.
// make test runs a short one; make soak runs 10,000 cycles.
func TestSoak(t *testing.T) {
	leakCheck(t)
	cycles, rooms := *soakCycles, *soakRooms
	if cycles == 0 {
		cycles = 12
		if rooms == 0 {
			rooms = 2
		}
	}
	if rooms == 0 {
		rooms = 5
	}
	s := startServer(t, strings.Fields(*soakServeFlags)...)
	api := s.adminClient(t)
	webAPI, err := client.NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}

	empty := settled(t, api, 0) // before anyone joined
	observers := make([]*soakObserver, rooms)
	for r := range observers {
		o, err := newSoakObserver(s, webAPI, uint32(9000+r))
		if err != nil {
			t.Fatal(err)
		}
		observers[r] = o
	}
	closeObservers := sync.OnceFunc(func() {
		for _, o := range observers {
			o.close()
		}
	})
	defer closeObservers()

	var (
		next     atomic.Int64 // cycles handed out
		done     atomic.Int64
		mu       sync.Mutex
		failures = map[string]int{}
		examples []string
	)
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failures[what]++
		if len(examples) < 10 {
			examples = append(examples, fmt.Sprintf("%s: %v", what, err))
		}
	}
	runCycles := func(limit int64) {
		var wg sync.WaitGroup
		for r := range rooms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= limit {
						next.Add(-1)
						return
					}
					if what, err := soakCycle(s, webAPI, observers[r], int(i), soakEnd(i%int64(soakEnds))); err != nil {
						fail(what, err)
					}
					if n := done.Add(1); n%500 == 0 {
						t.Logf("%d cycles done", n)
					}
				}
			}()
		}
		wg.Wait()
	}

	// Warm up: every kind of end at least once per room, then measure.
	warm := int64(min(cycles, rooms*int(soakEnds)))
	runCycles(warm)
	base := settled(t, api, rooms)
	start := time.Now()
	runCycles(int64(cycles))
	elapsed := time.Since(start)
	end := settled(t, api, rooms)
	closeObservers()
	gone := settled(t, api, 0) // the observers have left too

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d cycles in %d rooms (%d measured, in %v); failures %v", cycles, rooms, int64(cycles)-warm, elapsed.Round(time.Second), failures)
	for _, e := range examples {
		t.Logf("  %s", e)
	}
	t.Logf("%-8s %-10s %12s %12s %12s %12s %12s", "process", "", "goroutines", "heap live", "heap inuse", "RSS", "fds")
	for i := range end.Processes {
		for _, row := range []struct {
			name string
			p    admin.ProcessJSON
		}{{"empty", empty.Processes[i]}, {"start", base.Processes[i]}, {"end", end.Processes[i]}, {"all gone", gone.Processes[i]}} {
			t.Logf("%-8s %-10s %12d %12s %12s %12s %12d", base.Processes[i].Role, row.name, row.p.Goroutines,
				mib(int64(row.p.HeapAlloc)), mib(int64(row.p.HeapInuse)), mib(row.p.RSSBytes), row.p.FDs)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d kinds of failure: %v", len(failures), failures)
	}
	// Each measured cycle sent its room's observer two new SSRCs. Pion
	// keeps state for every SSRC a PeerConnection ever carried until that
	// PeerConnection closes: srtp contexts per SSRC (pion/srtp never removes
	// them) and, for RTCP about a removed track that arrives after its
	// sender stopped, a read stream nobody reads (webrtc's
	// undeclaredRTCPMediaProcessor keeps them until Close). While the
	// observers stay, the worker may hold up to pionPerSSRC for each; once
	// they leave, everything must be back.
	const pionPerSSRC = 1 << 10
	ssrcs := 2 * (int64(cycles) - warm)
	if w := 1; len(end.Processes) > w {
		t.Logf("worker heap growth with the observers still there: %d bytes per SSRC they were sent",
			(int64(end.Processes[w].HeapInuse)-int64(base.Processes[w].HeapInuse))/max(ssrcs, 1))
	}
	for i, b := range base.Processes {
		e, g, z := end.Processes[i], gone.Processes[i], empty.Processes[i]
		name := fmt.Sprintf("%s %d", b.Role, b.Index)
		perSSRC := int64(0)
		if b.Role == "worker" {
			perSSRC = pionPerSSRC * ssrcs
		}
		within(t, name+" goroutines", int64(b.Goroutines), int64(e.Goroutines), 0.05, 5)
		within(t, name+" heap in use", int64(b.HeapInuse), int64(e.HeapInuse), 0.05, 2<<20+perSSRC)
		within(t, name+" RSS", b.RSSBytes, e.RSSBytes, 0.05, 4<<20+perSSRC)
		within(t, name+" descriptors", int64(b.FDs), int64(e.FDs), 0.02, 3)
		// Everyone gone: back to the empty server, but for what the runtime
		// and the caches keep at their high-water marks (map buckets, pools,
		// partly used spans) and no goroutine. The live heap is what a leak
		// would grow; heap in use adds the partly used spans.
		//
		// The 12-14 MiB of worker heap that 10,000 cycles seemed to leave
		// (issue 11) was never a leak: the worker counted its sessions after
		// the collection, and one that overlapped the observers' closing
		// reported none while it had marked their per-SSRC state live
		// (71,292 heap objects then, 75,618 with the observers there, 1,813
		// empty). Counted around the collection, and measured twice, make
		// soak's 10,000 cycles in 5 rooms (9 min) leave the worker 1.1 MiB of
		// live heap (0.9 empty), 2.5 MiB in use (1.6) and 24.9 MiB RSS
		// (21.2), with 587 bytes per SSRC while the observers stay; and a
		// diagnostic build that counted live participants, PeerConnections,
		// DTLS and ICE transports (runtime.AddCleanup) found none left; its
		// heap profile after 3,000 cycles held 0.2 MiB more than the empty
		// worker's, in encoding/json's and crypto's caches and map buckets.
		// With the TURN relay (every client allocates) and senders of
		// reused m-sections from their PeerConnection's API: 1.2 MiB live
		// (1.0 empty), 2.6 MiB in use (1.7), 27.2 MiB RSS (23.4), 571 bytes
		// per SSRC, 0 failures in 9 min.
		//
		// Simulcast and the estimator (issue 13) at first kept what ended
		// alive while the observers stayed: the allocation's scratch list
		// (the last ended tracks, with their publishers' packet caches:
		// +2.9 MiB after 6 cycles, the CI failure) and an unread RTCP
		// stream for each stopped sender (its receiver's reports and
		// feedback about it). With both fixed, 200 cycles in 2 rooms: 1.5
		// MiB live at the start, 1.7 at the end (it was 7.1).
		within(t, name+" goroutines, all gone", int64(z.Goroutines), int64(g.Goroutines), 0, 2)
		within(t, name+" heap live, all gone", int64(z.HeapAlloc), int64(g.HeapAlloc), 0.05, 1<<20)
		within(t, name+" heap in use, all gone", int64(z.HeapInuse), int64(g.HeapInuse), 0.05, 4<<20)
		within(t, name+" RSS, all gone", z.RSSBytes, g.RSSBytes, 0.05, 8<<20)
		within(t, name+" descriptors, all gone", int64(z.FDs), int64(g.FDs), 0.02, 3)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// within fails if end exceeds start by more than frac of it plus slack.
func within(t *testing.T, what string, start, end int64, frac float64, slack int64) {
	t.Helper()
	if limit := start + int64(float64(start)*frac) + slack; end > limit {
		t.Errorf("%s: %d at the start, %d at the end (limit %d)", what, start, end, limit)
	}
}

// settled waits until the workers host only the rooms' observers, then
// measures every process after a garbage collection. It takes the second
// of two measurements in a row that find only the observers: a worker
// counts the sessions that ended while it collected (their memory may
// have been live for it), but the goroutines of a PeerConnection that Pion
// has just closed may still be finishing, and hold its memory, as the
// session goes; the pause between the two lets them end.
func settled(t *testing.T, api *admin.Client, observers int) admin.RuntimeJSON {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	quiet := 0 // measurements in a row with only the observers
	for {
		rt, err := api.RuntimeAfterGC(ctxT(t, 20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		sessions := 0
		for _, p := range rt.Processes[1:] {
			sessions += p.Sessions
		}
		quiet++
		if sessions != observers || rt.Processes[0].Sessions != observers {
			quiet = 0
		}
		if quiet == 2 {
			return rt
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions never settled: control %d, workers %d; want %d (ghost sessions)", rt.Processes[0].Sessions, sessions, observers)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// soakObserver stays in one room and checks everything it receives, per
// publisher (the stream id of a subscribed track is its participant id).
type soakObserver struct {
	c      *client.Client
	room   uint32
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	tracks map[string]map[webrtc.RTPCodecType][]*client.Checker // participant id → its tracks' checkers by kind
}

func newSoakObserver(s *server, api *webrtc.API, room uint32) (*soakObserver, error) {
	ctx, cancel := context.WithCancel(context.Background())
	o := &soakObserver{room: room, ctx: ctx, cancel: cancel, tracks: map[string]map[webrtc.RTPCodecType][]*client.Checker{}}
	c, err := soakJoin(s, api, "observer", room)
	if err != nil {
		cancel()
		return nil, err
	}
	o.c = c
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ch := client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
		pid := tr.StreamID()
		o.mu.Lock()
		if o.tracks[pid] == nil {
			o.tracks[pid] = map[webrtc.RTPCodecType][]*client.Checker{}
		}
		o.tracks[pid][tr.Kind()] = append(o.tracks[pid][tr.Kind()], ch)
		o.mu.Unlock()
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			_ = ch.Run(o.ctx, tr)
		}()
	})
	// Drain events so that none is dropped unread; the observer needs none.
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for range c.Events() {
		}
	}()
	return o, nil
}

// received reports whether the observer has at least n packets with
// valid markers on both an audio and a video track of participant pid,
// and forgets pid once it has.
func (o *soakObserver) received(pid string, n uint64) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := map[webrtc.RTPCodecType]uint64{}
	for kind, checkers := range o.tracks[pid] {
		for _, ch := range checkers {
			st := ch.Stats()
			if st.BadMarkers > 0 {
				return false, fmt.Errorf("%d packets with a bad marker", st.BadMarkers)
			}
			got[kind] += st.Packets
		}
	}
	ok := got[webrtc.RTPCodecTypeAudio] >= n && got[webrtc.RTPCodecTypeVideo] >= n
	if ok {
		delete(o.tracks, pid)
	}
	return ok, nil
}

func (o *soakObserver) close() {
	_ = o.c.Close()
	o.cancel()
	o.wg.Wait()
}

// soakJoin connects a participant to room, with a fresh token.
func soakJoin(s *server, api *webrtc.API, user string, room uint32) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.url, client.Options{API: api})
	if err != nil {
		return nil, err
	}
	uid := user + "-" + rand.Text()[:10]
	if _, err := c.Join(ctx, signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: s.tokenFor(s.appID, uid), RoomID: room}); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// soakCycle is one publisher's life in o's room: join, publish audio and
// video, be seen by the observer, go away as end says. It returns what
// failed, if anything.
func soakCycle(s *server, api *webrtc.API, o *soakObserver, i int, end soakEnd) (string, error) {
	c, err := soakJoin(s, api, fmt.Sprintf("soak%d", i), o.room)
	if err != nil {
		return "join", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := client.NewVP8Track("video", "stream", client.SourceOptions{})
	if err != nil {
		return "track", err
	}
	a, err := client.NewOpusTrack("audio", "stream", client.SourceOptions{})
	if err != nil {
		return "track", err
	}
	defer v.Close()
	defer a.Close()
	if err := c.Publish(ctx, v, a); err != nil {
		return "publish", err
	}
	v.Start(ctx)
	a.Start(ctx)
	pid := c.ParticipantID()
	for {
		ok, err := o.received(pid, 10)
		if err != nil {
			return "bad media", err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return "no media at the observer (" + end.String() + " next)", fmt.Errorf("cycle %d: %w", i, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	switch end {
	case endLeave:
		if err := c.Leave(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return "leave", err
		}
	case endDrop:
		_ = c.Drop()
	case endClosePCs:
		if err := c.ClosePeerConnections(); err != nil {
			return "close PeerConnections", err
		}
		// The server notices and says bye on the open socket.
		for {
			select {
			case e, ok := <-c.Events():
				if !ok || e.Type == signaling.TypeBye {
					return "", nil
				}
			case <-ctx.Done():
				return "ghost session: no bye after closed PeerConnections", fmt.Errorf("cycle %d", i)
			}
		}
	}
	return "", nil
}
