package sfu_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/sfu"
)

// dtlsDropper is the SFU's media socket; while on, it drops every DTLS
// record it reads (RFC 7983: first byte 20..63), as if the client never
// sent any.
type dtlsDropper struct {
	net.PacketConn
	on      atomic.Bool
	dropped atomic.Int64
}

func (c *dtlsDropper) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.on.Load() || n == 0 || b[0] < 20 || b[0] > 63 {
			return n, addr, err
		}
		c.dropped.Add(1)
	}
}

// fakeTimers is a Config.AfterFunc that runs nothing until fired.
type fakeTimers struct {
	mu      sync.Mutex
	pending []*fakeTimer
	made    int
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (ts *fakeTimers) AfterFunc(d time.Duration, f func()) func() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := &fakeTimer{d: d, f: f}
	ts.pending = append(ts.pending, t)
	ts.made++
	return func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// count returns how many timers were made.
func (ts *fakeTimers) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.made
}

// fire runs the pending timers that were not stopped, as if their time
// had come, and returns their durations.
func (ts *fakeTimers) fire() []time.Duration {
	ts.mu.Lock()
	due := ts.pending
	ts.pending = nil
	ts.mu.Unlock()
	var ds []time.Duration
	for _, t := range due {
		ts.mu.Lock()
		run := !t.stopped
		t.stopped = true
		ts.mu.Unlock()
		if run {
			t.f()
			ds = append(ds, t.d)
		}
	}
	return ds
}

// TestDTLSTimeout: a client whose ICE connects but whose DTLS handshake
// never completes is removed once Config.DTLSTimeout has passed since ICE
// connected, with ErrDTLSTimeout; participants whose handshake completed
// are not, however late their timer fires.
func TestDTLSTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var drop *dtlsDropper
	timers := &fakeTimers{}
	const timeout = 7 * time.Second
	s, api, stop := startSFUWith(t, func(udp *net.UDPConn) net.PacketConn {
		drop = &dtlsDropper{PacketConn: udp}
		return drop
	}, sfu.Config{DTLSTimeout: timeout, AfterFunc: timers.AfterFunc})
	defer stop()

	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()
	good, _ := join(t, s, api, "good", sfu.ParticipantConfig{UserID: "g", Send: sfu.AllMedia})
	defer good.shutdown()
	gc := newPubConn(t, good, api)
	video, _ := markedTracks(t, 1, 2)
	defer video.Close()
	gc.add(video)
	gc.negotiate()
	video.Start(context.Background())
	videoID, _ := publishedBy(t, obs, good, 1)
	if !receives(t, obs, videoID, 1, good, true) {
		t.Fatal("no video")
	}
	// Both connected PeerConnections had their handshake timed; it
	// completed, so the timers' end changes nothing.
	waitFor(t, "timers of the connected PeerConnections", func() bool { return timers.count() >= 2 })
	for _, d := range timers.fire() {
		if d != timeout {
			t.Errorf("a DTLS timer of %v, want %v", d, timeout)
		}
	}

	drop.on.Store(true)
	hostile, _ := join(t, s, api, "hostile", sfu.ParticipantConfig{UserID: "h", Send: sfu.AllMedia})
	defer hostile.shutdown()
	hc := newPubConn(t, hostile, api)
	_, audio := markedTracks(t, 3, 4)
	defer audio.Close()
	hc.add(audio)
	before := timers.count()
	hc.negotiate()
	waitFor(t, "the hostile client's ICE connected", func() bool {
		return hc.pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected && timers.count() > before
	})
	waitFor(t, "DTLS records dropped", func() bool { return drop.dropped.Load() > 0 })
	closedWith := func(e *endpoint) (reasons []error) {
		e.ev.with(func(r *recorder) bool { reasons = r.closed; return true })
		return reasons
	}
	if st := hc.pc.ConnectionState(); st == webrtc.PeerConnectionStateConnected {
		t.Fatalf("the hostile client's DTLS connected (%s) through the dropper", st)
	}
	if r := closedWith(hostile); len(r) != 0 {
		t.Fatalf("the hostile participant was closed before its timer: %v", r)
	}

	timers.fire()
	waitFor(t, "the hostile participant removed", func() bool { return len(closedWith(hostile)) > 0 })
	if r := closedWith(hostile); len(r) != 1 || !errors.Is(r[0], sfu.ErrDTLSTimeout) || !errors.Is(r[0], sfu.ErrConnectionFailed) {
		t.Errorf("the hostile participant was closed with %v, want ErrDTLSTimeout", r)
	}
	for _, e := range []*endpoint{obs, good} {
		if r := closedWith(e); len(r) != 0 {
			t.Errorf("%s was closed: %v", e.name, r)
		}
	}
	if !flows(t, obs, videoID, 1) {
		t.Error("the good publisher's video stopped")
	}
}
