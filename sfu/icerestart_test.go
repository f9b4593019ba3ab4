package sfu_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/sfu"
)

// These tests cut one endpoint's media path with a UDP relay and check
// that ICE restarts bring it back: the same participant, the same tracks,
// and sequence numbers that run on across the outage.

// udpRelay carries UDP between an endpoint's PeerConnections and the SFU's
// socket, as a NAT would: every client address gets an upstream socket of
// its own, so the SFU sees only the relay's addresses. While cut, it drops
// everything both ways; rebind forgets its mappings, as a NAT that lost
// them does, so that the path the SFU knew is gone for good.
//
// The endpoint sees the SFU's candidates with the relay's port instead of
// the SFU's (fromSFU), and the SFU never sees the endpoint's candidates
// (toSFU): it learns the relay's addresses from the checks that arrive
// (peer-reflexive candidates), so that no path bypasses the relay.
type udpRelay struct {
	front *net.UDPConn
	sfu   *net.UDPAddr
	cut   atomic.Bool

	mu    sync.Mutex
	flows map[string]*net.UDPConn // upstream sockets by client address
	wg    sync.WaitGroup
}

func newUDPRelay(t *testing.T, sfuAddr *net.UDPAddr) *udpRelay {
	t.Helper()
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{front: front, sfu: sfuAddr, flows: make(map[string]*net.UDPConn)}
	r.wg.Add(1)
	go r.serveFront()
	return r
}

func (r *udpRelay) serveFront() {
	defer r.wg.Done()
	buf := make([]byte, 1600)
	for {
		n, from, err := r.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if up := r.flow(from); up != nil && !r.cut.Load() {
			_, _ = up.WriteToUDP(buf[:n], r.sfu)
		}
	}
}

// flow returns the upstream socket of a client address, made on first use.
func (r *udpRelay) flow(client *net.UDPAddr) *net.UDPConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if up := r.flows[client.String()]; up != nil {
		return up
	}
	up, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil
	}
	r.flows[client.String()] = up
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 1600)
		for {
			n, _, err := up.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if !r.cut.Load() {
				_, _ = r.front.WriteToUDP(buf[:n], client)
			}
		}
	}()
	return up
}

// rebind closes every upstream socket: packets of the endpoint get new
// ones, and what the SFU sends to the old ones is lost.
func (r *udpRelay) rebind() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, up := range r.flows {
		up.Close()
		delete(r.flows, k)
	}
}

func (r *udpRelay) close() {
	r.front.Close()
	r.mu.Lock()
	for _, up := range r.flows {
		up.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// fromSFU points the SFU's candidates in an SDP or candidate line at the
// relay. A nil relay changes nothing.
func (r *udpRelay) fromSFU(s string) string {
	if r == nil {
		return s
	}
	return strings.ReplaceAll(s, fmt.Sprintf(" %d typ ", r.sfu.Port),
		fmt.Sprintf(" %d typ ", r.front.LocalAddr().(*net.UDPAddr).Port))
}

func (r *udpRelay) candidate(c *webrtc.ICECandidateInit) *webrtc.ICECandidateInit {
	if r == nil || c == nil {
		return c
	}
	out := *c
	out.Candidate = r.fromSFU(c.Candidate)
	return &out
}

// toSFU removes the endpoint's candidates from its SDP.
func (r *udpRelay) toSFU(s string) string {
	if r == nil {
		return s
	}
	var b strings.Builder
	for line := range strings.SplitAfterSeq(s, "\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// relayedSFU starts an SFU with cfg and a relay in front of its socket.
func relayedSFU(t *testing.T, cfg sfu.Config) (s *sfu.SFU, api *webrtc.API, relay *udpRelay, stop func()) {
	t.Helper()
	var addr *net.UDPAddr
	s, api, stopSFU := startSFUWith(t, func(u *net.UDPConn) net.PacketConn {
		addr = u.LocalAddr().(*net.UDPAddr)
		return u
	}, cfg)
	relay = newUDPRelay(t, addr)
	return s, api, relay, func() {
		stopSFU()
		relay.close()
	}
}

// ufrag is the ICE ufrag of a description.
func ufrag(t *testing.T, d *webrtc.SessionDescription) string {
	t.Helper()
	var sd sdp.SessionDescription
	if d == nil || sd.UnmarshalString(d.SDP) != nil {
		t.Fatal("no description to read the ufrag of")
	}
	if v, ok := sd.Attribute("ice-ufrag"); ok {
		return v
	}
	for _, m := range sd.MediaDescriptions {
		if v, ok := m.Attribute("ice-ufrag"); ok {
			return v
		}
	}
	return ""
}

// continuous checks, as a receiver can, that a track ran on across an
// outage: one SSRC and payload type, and every marked packet's sequence
// number at the same distance from its marker sequence number (the SFU
// rewrites them with one offset, the outage only takes packets away). It
// returns the packets' marker gap: how many of the publisher's packets the
// receiver never got.
func continuous(t *testing.T, name string, rx *rxTrack) (missing int) {
	t.Helper()
	pkts := rx.packets()
	var first *rxPacket
	seen := make(map[uint32]bool)
	var lo, hi uint32
	for i := range pkts {
		p := &pkts[i]
		if !p.marked {
			continue
		}
		if first == nil {
			first, lo, hi = p, p.mseq, p.mseq
		}
		if p.ssrc != first.ssrc || p.pt != first.pt {
			t.Errorf("%s: SSRC or payload type changed: %#x/%d -> %#x/%d", name, first.ssrc, first.pt, p.ssrc, p.pt)
			return 0
		}
		if p.seq-uint16(p.mseq) != first.seq-uint16(first.mseq) {
			t.Errorf("%s: sequence number %d for marker %d, offset %d; the first was %d for %d",
				name, p.seq, p.mseq, p.seq-uint16(p.mseq), first.seq, first.mseq)
			return 0
		}
		seen[p.mseq] = true
		lo, hi = min(lo, p.mseq), max(hi, p.mseq)
	}
	if first == nil {
		t.Errorf("%s: no marked packet", name)
		return 0
	}
	return int(hi-lo+1) - len(seen)
}

// cutFor cuts the relay for d, then mends it (with new mappings if
// rebind) and returns when it did.
func cutFor(relay *udpRelay, d time.Duration, rebind bool) time.Time {
	relay.cut.Store(true)
	time.Sleep(d)
	if rebind {
		relay.rebind()
	}
	relay.cut.Store(false)
	return time.Now()
}

// resumes waits until rx has more packets than n and returns how long
// after since that was.
func resumes(t *testing.T, what string, rx *rxTrack, n int, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for rx.count() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no packet within %v after the path came back", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(since)
}

func restartOffers(e *endpoint) (n int) {
	e.ev.with(func(r *recorder) bool {
		for _, restart := range r.offers {
			if restart == restartSignal {
				n++
			}
		}
		return true
	})
	return n
}

// The subscriber's path is blackholed for 4 s, longer than the 3 s after
// which its ICE turns disconnected, and comes back through new NAT
// mappings, so that the pair in use is dead for good: the SFU restarts the
// subscriber PeerConnection's ICE with a new offer, and the tracks resume
// on the same TrackRemotes and SSRCs, their sequence numbers running on.
// Nobody rejoins. (Without restarts, ICE would fail and the participant be
// removed 13 s after the cut.)
func TestSubscriberICERestartAfterOutage(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, relay, stop := relayedSFU(t, sfu.Config{})
	defer stop()
	sub, _ := joinVia(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia}, relay)
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, audioID := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, videoID, 1, pub, true) || !receives(t, sub, audioID, 2, pub, false) {
		t.Fatal("no media before the outage")
	}
	rxV, rxA := sub.track(videoID), sub.track(audioID)
	before := ufrag(t, sub.sub.pc.RemoteDescription())
	tracks := sub.onTracks.Load()

	mended := cutFor(relay, 4*time.Second, true)
	nV, nA := rxV.count(), rxA.count()
	recovered := resumes(t, "video", rxV, nV, mended)
	resumes(t, "audio", rxA, nA, mended)
	if !flows(t, sub, videoID, 1) || !flows(t, sub, audioID, 2) {
		t.Fatal("media does not flow after the outage")
	}

	if n := restartOffers(sub); n == 0 {
		t.Error("the SFU made no ICE restart offer")
	}
	if after := ufrag(t, sub.sub.pc.RemoteDescription()); after == before {
		t.Errorf("the subscriber's remote ICE ufrag is still %q", before)
	}
	if sub.track(videoID) != rxV || sub.track(audioID) != rxA || rxV.hasEnded() || rxA.hasEnded() || sub.onTracks.Load() != tracks {
		t.Error("the tracks did not resume on the same TrackRemotes")
	}
	if sub.ev.with(func(r *recorder) bool { return len(r.closed) > 0 }) {
		t.Fatal("the subscriber was removed")
	}
	time.Sleep(300 * time.Millisecond) // let NACKs repair what they can
	mv, ma := continuous(t, "video", rxV), continuous(t, "audio", rxA)
	if st := rxV.checker.Stats(); st.BadMarkers != 0 || st.Duplicates != 0 {
		t.Errorf("video: %+v", st)
	}
	t.Logf("media resumed %v after the path came back (4 s outage), after %d restarts; %d video and %d audio packets of the outage missing; stats %+v",
		recovered.Round(time.Millisecond), restartOffers(sub), mv, ma, s.Stats())
}

// A path that only went quiet for 4 s comes back on the pair in use, by
// itself, as soon as packets flow: the SFU waits ICERestartDelay past
// disconnected before it restarts, and here makes no restart at all.
func TestQuietPathComesBackWithoutRestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Disconnected 3-4 s after the cut; the path is back at 4 s, and its
	// first answered check (Pion checks every second) comes well before
	// the restart would fall due, 6-7 s after the cut.
	s, api, relay, stop := relayedSFU(t, sfu.Config{ICERestartDelay: 3 * time.Second})
	defer stop()
	sub, _ := joinVia(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia}, relay)
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, _ := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, videoID, 1, pub, true) {
		t.Fatal("no media before the outage")
	}
	rxV := sub.track(videoID)
	mended := cutFor(relay, 4*time.Second, false)
	recovered := resumes(t, "video", rxV, rxV.count(), mended)
	if !flows(t, sub, videoID, 1) {
		t.Fatal("media does not flow after the outage")
	}
	time.Sleep(3 * time.Second) // past the restart that a disconnection would have brought
	if n := restartOffers(sub); n != 0 {
		t.Errorf("%d restart offers for a path that came back by itself", n)
	}
	continuous(t, "video", rxV)
	t.Logf("media resumed %v after the path came back", recovered.Round(time.Millisecond))
}

// A restart that falls due while an offer is outstanding waits for its
// answer (one offer at a time, protocol 3.3): then the next offer
// restarts ICE, and the media comes back.
func TestICERestartWaitsForOutstandingOffer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Disconnected 1-2 s after the cut, a restart due 0.5 s later.
	s, api, relay, stop := relayedSFU(t, sfu.Config{ICEDisconnectedTimeout: time.Second, ICERestartDelay: 500 * time.Millisecond})
	defer stop()
	sub, _ := joinVia(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia}, relay)
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, audio := markedTracks(t, 1, 2)
	defer video.Close()
	defer audio.Close()
	pc := newPubConn(t, pub, api)
	pc.add(video)
	pc.negotiate()
	video.Start(context.Background())
	videoID, _ := publishedBy(t, sub, pub, 1)
	if !receives(t, sub, videoID, 1, pub, true) {
		t.Fatal("no video before the outage")
	}

	sub.hold(true)
	pc.add(audio) // the SFU offers the audio to sub: held, unanswered
	pc.negotiate()
	audio.Start(context.Background())
	held := sub.nextHeld()
	relay.cut.Store(true)
	time.Sleep(3500 * time.Millisecond) // past the restart's being due
	select {
	case o := <-sub.held:
		t.Fatalf("a second offer while one was outstanding (restart: %v)", ufrag(t, &webrtc.SessionDescription{SDP: o}) != ufrag(t, &webrtc.SessionDescription{SDP: held}))
	default:
	}
	if n := restartOffers(sub); n != 0 {
		t.Fatalf("%d restart offers while an offer was outstanding", n)
	}
	sub.hold(false)
	if err := sub.answer(held); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart offer after the answer", func() bool { return restartOffers(sub) == 1 && sub.answers.Load() >= 3 })
	rxV := sub.track(videoID)
	n := rxV.count()
	mended := time.Now()
	relay.cut.Store(false)
	recovered := resumes(t, "video", rxV, n, mended)
	_, audioID := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, audioID, 2, pub, false) {
		t.Error("the audio offered during the outage does not arrive")
	}
	continuous(t, "video", rxV)
	t.Logf("media resumed %v after the path came back", recovered.Round(time.Millisecond))
}

// A path that never comes back: the SFU restarts a bounded number of
// times, and removes the participant when its PeerConnection has not
// connected again ICEFailedTimeout after it went disconnected, as without
// restarts, not later.
func TestICERestartGivesUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := sfu.Config{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 4 * time.Second,
		ICERestartDelay: 500 * time.Millisecond, ICERestarts: 3}
	s, api, relay, stop := relayedSFU(t, cfg)
	defer stop()
	sub, _ := joinVia(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia}, relay)
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, _ := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, videoID, 1, pub, true) {
		t.Fatal("no media before the outage")
	}
	relay.cut.Store(true)
	cut := time.Now()
	waitFor(t, "the subscriber removed", func() bool {
		return sub.ev.with(func(r *recorder) bool { return len(r.closed) > 0 })
	})
	took := time.Since(cut)
	sub.ev.with(func(r *recorder) bool {
		if !errors.Is(r.closed[0], sfu.ErrConnectionFailed) {
			t.Errorf("removed for %v, want ErrConnectionFailed", r.closed[0])
		}
		return true
	})
	// Disconnected 1-2 s after the cut (silence is checked every second),
	// restarted 0.5 s later and every second after, 3 times (ICERestarts),
	// removed 4 s after disconnected. Without the deadline, Pion would
	// fail the last restart's checks 1+4 s after it: 8.5 s or more.
	if took < 4*time.Second || took > 7*time.Second {
		t.Errorf("removed %v after the cut, want 5-6 s", took)
	}
	if n := restartOffers(sub); n != 3 {
		t.Errorf("%d restart offers, want 3 (ICERestarts)", n)
	}
	t.Logf("removed %v after the cut, after %d restarts", took.Round(time.Millisecond), restartOffers(sub))
}

// A client may ask for a restart of its subscriber PeerConnection (its end
// hears nothing): the next offer restarts ICE, media goes on; asking again
// while one is under way does nothing; beyond the budget it is refused.
func TestClientAsksSubscriberRestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFUWith(t, nil, sfu.Config{ICERestarts: 2})
	defer stop()
	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
	defer pub.shutdown()
	// Nothing to restart yet: no subscriber offer was ever answered.
	if err := sub.p.RestartICE(); err != nil {
		t.Fatalf("RestartICE before any offer: %v", err)
	}
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, _ := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, videoID, 1, pub, true) {
		t.Fatal("no media")
	}
	if n := restartOffers(sub); n != 0 {
		t.Fatalf("%d restart offers before the first restart was asked for", n)
	}
	rxV := sub.track(videoID)
	for round := 1; round <= 2; round++ {
		before := ufrag(t, sub.sub.pc.RemoteDescription())
		if err := sub.p.RestartICE(); err != nil {
			t.Fatalf("round %d: RestartICE: %v", round, err)
		}
		if err := sub.p.RestartICE(); err != nil { // under way: nothing more
			t.Fatalf("round %d: RestartICE again: %v", round, err)
		}
		waitFor(t, "the restart answered", func() bool {
			return restartOffers(sub) == round && ufrag(t, sub.sub.pc.RemoteDescription()) != before
		})
		if !flows(t, sub, videoID, 1) {
			t.Fatalf("round %d: no video after the restart", round)
		}
		waitFor(t, "ICE connected", func() bool {
			st := sub.sub.pc.ICEConnectionState()
			return st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
		})
		time.Sleep(100 * time.Millisecond) // the SFU's side connects too
	}
	if err := sub.p.RestartICE(); !errors.Is(err, sfu.ErrICERestartLimit) {
		t.Errorf("a third restart in a minute: %v, want ErrICERestartLimit", err)
	}
	if sub.track(videoID) != rxV {
		t.Error("the video track was replaced")
	}
	continuous(t, "video", rxV)
}

// restartPublisher offers with new ICE credentials on e's publisher
// PeerConnection, as a client does when the SFU asks it to, and returns
// the SFU's answer.
func (e *endpoint) restartPublisher() string {
	e.t.Helper()
	pc := e.pub.pc
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		e.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		e.t.Fatal(err)
	}
	<-gathered
	answer, err := e.p.HandleOffer(e.relay.toSFU(pc.LocalDescription().SDP), nil)
	if err != nil {
		e.t.Fatalf("%s: HandleOffer: %v", e.name, err)
	}
	if err := e.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: e.relay.fromSFU(answer)}); err != nil {
		e.t.Fatal(err)
	}
	return answer
}

// The publisher's path is blackholed for 4 s and comes back through new
// NAT mappings: its media reaches the SFU again from the new address, but
// nothing the SFU sends (RTCP: NACKs, keyframe requests, consent checks)
// reaches the client, and ICE would fail. The SFU cannot restart ICE
// where the client offers, so it asks the client to (Events.RestartICE);
// the client offers with new credentials, the SFU's answer carries its new
// candidates, and the subscriber keeps the same tracks, sequence numbers
// running on.
func TestPublisherICERestartAfterOutage(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, relay, stop := relayedSFU(t, sfu.Config{})
	defer stop()
	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub.shutdown()
	pub, _ := joinVia(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia}, relay)
	defer pub.shutdown()
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, audioID := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, videoID, 1, pub, true) {
		t.Fatal("no media before the outage")
	}
	rxV, rxA := sub.track(videoID), sub.track(audioID)
	before := ufrag(t, pub.pub.pc.RemoteDescription())

	cut := time.Now()
	mended := cutFor(relay, 4*time.Second, true)
	waitFor(t, "the SFU asks for a publisher restart", func() bool {
		return pub.ev.with(func(r *recorder) bool { return r.askRestart > 0 })
	})
	asked := time.Since(cut)
	answer := pub.restartPublisher() // through the signaling, which still works
	restarted := time.Since(cut)
	if !strings.Contains(answer, "a=candidate:") || ufrag(t, pub.pub.pc.RemoteDescription()) == before {
		t.Error("the answer to the restart offer lacks new credentials or candidates")
	}
	waitFor(t, "the SFU's publisher ICE connected again", func() bool {
		st := pub.pub.pc.ICEConnectionState()
		return st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
	})
	if !flows(t, sub, videoID, 1) || !flows(t, sub, audioID, 2) {
		t.Fatal("media does not flow after the restart")
	}
	if sub.track(videoID) != rxV || sub.track(audioID) != rxA || countPublished(sub, pub) != 2 {
		t.Error("the publisher's tracks were replaced")
	}
	if pub.ev.with(func(r *recorder) bool { return len(r.closed) > 0 }) {
		t.Fatal("the publisher was removed")
	}
	continuous(t, "video", rxV)
	continuous(t, "audio", rxA)
	t.Logf("the path came back %v after the cut; the SFU asked for a restart %v after the cut, the client made it %v after",
		mended.Sub(cut).Round(time.Millisecond), asked.Round(time.Millisecond), restarted.Round(time.Millisecond))
}
