package sfu

import (
	"fmt"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// ICE restarts.
//
// Only the offerer of a PeerConnection can restart its ICE: the SFU on a
// participant's subscriber PeerConnection, the client on its publisher
// one. When the SFU has not heard from the client on either for a while
// (ICE disconnected: ICEDisconnectedTimeout without a packet, then
// ICERestartDelay more), it acts: on the subscriber it offers again with
// new ICE credentials (Events.Offer with iceRestart), on the publisher it
// asks the client to (Events.RestartICE). A client may ask for a
// subscriber restart too (Participant.RestartICE), and restarts its
// publisher by offering with new credentials (HandleOffer). A restarted
// ICE agent checks anew; the DTLS association, the SRTP contexts and the
// transceivers stay, and with them every track, its SSRC and its sequence
// numbering, so the client sees its tracks resume where the outage cut
// them.
//
// Why wait: a restart is what brings back a path that changed (a client
// on a new network, a NAT that mapped it anew), but it drops the pair in
// use, and a path that merely went quiet for a few seconds comes back on
// that pair at once, by itself, as soon as packets flow again. A restart
// made then would only delay it: the new checks start afresh, and Pion's
// give up after about 1.6 s of no answer.
//
// Bounds:
//   - at most ICERestarts per PeerConnection in any ICERestartWindow,
//     whoever asked (the SFU itself, or the client for its subscriber);
//   - one subscriber offer at a time: a restart wanted while an offer waits
//     for its answer is made by the next offer, right after that answer;
//   - while the PeerConnection stays disconnected, a restart is made again
//     every ICEDisconnectedTimeout, within the budget: one made while the
//     path is still cut gives up its checks;
//   - the participant is removed (ErrConnectionFailed) when the
//     PeerConnection has not connected again ICEFailedTimeout after it went
//     disconnected, however many restarts were tried: the moment Pion
//     would have declared it failed without them.
//
// Candidates of a restart's new ICE generation are not trickled: a client
// that already has a remote description drops a candidate whose ufrag it
// does not know yet (Pion does; browsers refuse it), and the SFU's
// candidates would reach it before the SDP with the new credentials. The
// SFU waits for its gathering instead (host candidates on its UDP mux: at
// once) and sends them inside that SDP.

// restartGatherLimit bounds the wait for a restart's candidates.
const restartGatherLimit = 2 * time.Second

// iceWatch is what the SFU keeps of one PeerConnection's ICE. Guarded by
// Participant.mu.
type iceWatch struct {
	budget    restartBudget
	down      bool        // went disconnected and has not connected since
	answers   uint64      // consent checks the pair in use had answered as it went down
	want      bool        // subscriber: the next offer restarts ICE
	restarted bool        // restarted (or asked to be) since it last connected
	deadline  *time.Timer // removes the participant unless it connects first
	retry     *time.Timer // restarts again unless it connects first

	quiet    bool                       // a restart's candidates go into its SDP
	complete bool                       // and all of them are in it
	held     []*webrtc.ICECandidateInit // gathered while quiet
}

// restartBudget counts ICE restarts in a sliding window.
type restartBudget struct {
	at []time.Time
}

// take records a restart at now and reports true, unless limit restarts
// happened in the window before now.
func (b *restartBudget) take(now time.Time, limit int, window time.Duration) bool {
	keep := b.at[:0]
	for _, t := range b.at {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	b.at = keep
	if len(b.at) >= limit {
		return false
	}
	b.at = append(b.at, now)
	return true
}

// onICEState follows one PeerConnection's ICE connection state.
func (p *Participant) onICEState(side Side, st webrtc.ICEConnectionState) {
	switch st {
	case webrtc.ICEConnectionStateDisconnected:
		if side == Subscriber {
			p.bwe.outage.Store(true) // bwe.go: an outage is not a slow link
		}
		p.iceDown(side)
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		p.iceUp(side)
	}
}

// iceDown starts the deadline of side and, a little later, its restarts.
func (p *Participant) iceDown(side Side) {
	answers := p.consents(side)
	p.mu.Lock()
	defer p.mu.Unlock()
	w := &p.ice[side]
	if p.closed || w.down {
		return
	}
	w.down, w.answers = true, answers
	w.deadline = time.AfterFunc(p.s.cfg.ICEFailedTimeout, func() { p.iceDeadline(side) })
	p.armRetryLocked(side, p.s.cfg.ICERestartDelay)
}

// iceUp ends an outage of side. After a restart, subscribers of what was
// cut get a keyframe soon: their decoders lost packets.
func (p *Participant) iceUp(side Side) {
	p.mu.Lock()
	w := &p.ice[side]
	restarted := w.restarted
	w.down, w.want, w.restarted = false, false, false
	stopTimer(&w.deadline)
	stopTimer(&w.retry)
	var ups []*upTrack
	if restarted && side == Subscriber {
		for _, d := range p.down {
			ups = append(ups, d.up)
		}
	}
	p.mu.Unlock()
	if !restarted {
		return
	}
	p.log.Info("ICE restarted", "side", side.String())
	if side == Publisher {
		ups = p.room.tracksOf(p)
	}
	for _, u := range ups {
		u.requestKeyframes()
	}
}

// iceRetry restarts side if it is still disconnected. If the client has
// answered a consent check on the pair in use since it went so, the path
// is back and ICE says connected at its next check (every ICEKeepalive):
// no restart then. (Media alone does not tell: Pion takes a packet from a
// new address, which the pair in use cannot reach, for one of the pair.)
func (p *Participant) iceRetry(side Side) {
	answers := p.consents(side)
	p.mu.Lock()
	w := &p.ice[side]
	if p.closed || !w.down {
		p.mu.Unlock()
		return
	}
	if answers > w.answers {
		p.armRetryLocked(side, p.s.cfg.ICEKeepalive+p.s.cfg.ICEKeepalive/2)
		p.mu.Unlock()
		return
	}
	ok := p.restartLocked(side)
	p.mu.Unlock()
	p.log.Info("ICE still disconnected", "side", side.String(), "restart", ok)
	p.restartStarted(side, ok)
}

// consents returns how many of the SFU's checks the client has answered
// on side's selected candidate pair (Pion sends one every ICEKeepalive),
// 0 without a pair.
func (p *Participant) consents(side Side) uint64 {
	st, ok := p.pc(side).SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return 0
	}
	return st.ResponsesReceived
}

// iceDeadline removes p if side is still down.
func (p *Participant) iceDeadline(side Side) {
	p.mu.Lock()
	down := !p.closed && p.ice[side].down
	p.mu.Unlock()
	if down {
		p.closeAsync(ErrConnectionFailed)
	}
}

// restartLocked takes a restart of side from its budget and marks it due.
// It reports false when restarts are off or the budget is spent. Called
// with p.mu held.
func (p *Participant) restartLocked(side Side) bool {
	cfg := &p.s.cfg
	w := &p.ice[side]
	if side == Subscriber && w.want {
		return true // the next offer restarts already
	}
	if cfg.ICERestarts < 0 || !w.budget.take(cfg.Now(), cfg.ICERestarts, cfg.ICERestartWindow) {
		return false
	}
	w.restarted = true
	if side == Subscriber {
		w.want = true // restartOffered arms the retry once it is offered
		return true
	}
	if w.down {
		p.armRetryLocked(side, cfg.ICEDisconnectedTimeout)
	}
	return true
}

// restartStarted carries out a restart restartLocked made due (ok): the
// subscriber's by an offer, the publisher's by asking the client.
func (p *Participant) restartStarted(side Side, ok bool) {
	switch {
	case !ok && p.s.cfg.ICERestarts >= 0:
		p.log.Warn("ICE restart limit reached", "side", side.String())
	case !ok:
	case side == Subscriber:
		p.kick()
	default:
		p.ev.RestartICE()
	}
}

// armRetryLocked calls iceRetry after d. Called with p.mu held.
func (p *Participant) armRetryLocked(side Side, d time.Duration) {
	w := &p.ice[side]
	stopTimer(&w.retry)
	w.retry = time.AfterFunc(d, func() { p.iceRetry(side) })
}

// RestartICE restarts the subscriber PeerConnection's ICE at the client's
// request (its end of the connection hears nothing), with the next offer.
// A restart already under way is not made again, and one of a
// PeerConnection never negotiated is not made at all: its first offer
// brings fresh ICE anyway. Beyond the budget, or with restarts off, it
// fails with ErrICERestartLimit.
func (p *Participant) RestartICE() error {
	negotiated := p.sub.CurrentRemoteDescription() != nil
	p.mu.Lock()
	w := &p.ice[Subscriber]
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case !negotiated || w.want || w.restarted:
		p.mu.Unlock()
		return nil
	}
	ok := p.restartLocked(Subscriber)
	p.mu.Unlock()
	if !ok {
		return ErrICERestartLimit
	}
	p.kick()
	return nil
}

// restartDue reports whether the next subscriber offer must restart ICE.
func (p *Participant) restartDue() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ice[Subscriber].want
}

// subscriberOffer creates the subscriber PeerConnection's next offer, with
// new ICE credentials and the candidates of their generation if restart,
// and sets it. Called with subMu held; after a restart offer has been sent
// the caller calls restartOffered.
func (p *Participant) subscriberOffer(restart bool) (string, error) {
	var opts *webrtc.OfferOptions
	if restart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		p.holdCandidates(Subscriber)
	}
	offer, err := p.sub.CreateOffer(opts)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		if restart {
			p.releaseCandidates(Subscriber)
		}
		return "", fmt.Errorf("offer: %w", err)
	}
	if !restart {
		return offer.SDP, nil
	}
	return p.gathered(Subscriber), nil
}

// restartOffered follows a restart offer that has been sent: the
// candidates held back go out (if the offer lacks any) and the retry is
// armed.
func (p *Participant) restartOffered() {
	p.mu.Lock()
	w := &p.ice[Subscriber]
	w.want = false
	if w.down {
		p.armRetryLocked(Subscriber, p.s.cfg.ICEDisconnectedTimeout)
	}
	p.mu.Unlock()
	p.releaseCandidates(Subscriber)
}

// clientRestart reports whether offer carries ICE credentials other than
// those of the publisher PeerConnection's remote description: the client
// restarts its ICE. Then the candidates the SFU gathers for it are held
// back, for the answer (gathered), until releaseCandidates.
func (p *Participant) clientRestart(offer *sdp.SessionDescription) bool {
	cur := p.pub.RemoteDescription()
	if cur == nil {
		return false
	}
	// cur is Pion's own: its Unmarshal would write to it under Pion's feet.
	var old sdp.SessionDescription
	if old.UnmarshalString(cur.SDP) != nil {
		return false
	}
	ufrag, pwd := iceCredentials(offer)
	oldUfrag, oldPwd := iceCredentials(&old)
	if ufrag == "" || ufrag == oldUfrag && pwd == oldPwd {
		return false
	}
	p.mu.Lock()
	p.ice[Publisher].restarted = true
	p.mu.Unlock()
	p.holdCandidates(Publisher)
	return true
}

// iceCredentials returns the ICE ufrag and password of a description: at
// session level or in its first m-section that has them (BUNDLE: one
// transport).
func iceCredentials(sd *sdp.SessionDescription) (ufrag, pwd string) {
	ufrag, _ = sd.Attribute("ice-ufrag")
	pwd, _ = sd.Attribute("ice-pwd")
	for _, m := range sd.MediaDescriptions {
		if ufrag != "" {
			break
		}
		ufrag, _ = m.Attribute("ice-ufrag")
		pwd, _ = m.Attribute("ice-pwd")
	}
	return ufrag, pwd
}

// holdCandidates keeps side's local candidates from being trickled until
// releaseCandidates.
func (p *Participant) holdCandidates(side Side) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := &p.ice[side]
	w.quiet, w.complete, w.held = true, false, nil
}

// heldCandidate keeps c if side's candidates are held, and reports
// whether it did.
func (p *Participant) heldCandidate(side Side, c *webrtc.ICECandidateInit) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := &p.ice[side]
	if w.quiet && len(w.held) < maxEarlyCandidates {
		w.held = append(w.held, c)
	}
	return w.quiet
}

// gathered waits (a while) for side's gathering to complete and returns
// its local description with the candidates gathered.
func (p *Participant) gathered(side Side) string {
	pc := p.pc(side)
	t := time.NewTimer(restartGatherLimit)
	defer t.Stop()
	complete := false
	select {
	case <-webrtc.GatheringCompletePromise(pc):
		complete = true
	case <-t.C:
	}
	sdp := pc.LocalDescription().SDP
	p.mu.Lock()
	p.ice[side].complete = complete
	p.mu.Unlock()
	return sdp
}

// releaseCandidates ends holding side's candidates. Those held are all in
// the SDP when its gathering completed in time, and dropped; otherwise
// they are trickled now.
func (p *Participant) releaseCandidates(side Side) {
	p.mu.Lock()
	w := &p.ice[side]
	held := w.held
	if w.complete {
		held = nil
	}
	w.quiet, w.complete, w.held = false, false, nil
	p.mu.Unlock()
	for _, c := range held {
		p.ev.Candidate(side, c)
	}
}

// stopICELocked stops the ICE timers when p closes. Called with p.mu held.
func (p *Participant) stopICELocked() {
	for i := range p.ice {
		stopTimer(&p.ice[i].deadline)
		stopTimer(&p.ice[i].retry)
	}
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
