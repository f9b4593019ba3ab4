package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/internal/ackrate"
	"github.com/lethe-rtc/lethe/internal/allocate"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Downlink bandwidth estimation. Each subscriber PeerConnection numbers
// its packets with the transport-wide sequence number; the client's TWCC
// feedback feeds a send-side estimator (Pion's Google Congestion Control,
// delay and loss based) of the subscriber's downlink. Every allocInterval
// the allocator (internal/allocate) spreads the estimate over the
// subscriber's tracks: audio first, then screen, then camera, each at the
// highest layer that fits with its settings. Pion's estimate keeps rising
// while the SFU sends less than it, so the budget is also capped at half
// as much again as was actually sent (plus a little): a layer is reached
// by sending that much first, which the prober does with padding-only
// packets in short, backed-off clusters.
const (
	initialEstimate = 2_500_000  // bit/s: the top layer of a camera, to start with
	minEstimate     = 30_000     // bit/s: audio still goes out
	maxEstimate     = 50_000_000 // bit/s
	// lossShort is the fraction lost in a receiver report that counts as
	// the link found short.
	lossShort = 0.05
	// lowestShare is the percentage of its bitrate a simulcast track's
	// lowest layer is reckoned at.
	lowestShare = 100
	// sustain is how many allocations in a row (of allocInterval) a lower
	// budget must last to take effect.
	sustain = 4
	// dropPercent is how far the estimate must fall from one allocation
	// to the next for the link to count as found short.
	dropPercent = 10
	// sentSlack is added to 1.5 × the bitrate sent for the budget.
	sentSlack = 10_000
	// settle is how long after a track went up a layer no probe starts.
	settle = 3 * time.Second
	// probeTick is how often a probe cluster sends its padding.
	probeTick = 20 * time.Millisecond
	// behindPercent: a receive rate below this share of the send rate
	// of the same packets is a link found short.
	behindPercent = 85
	// overshootSpan is how much feedback a running probe cluster needs
	// before it may find the link falling behind.
	overshootSpan = 200 * time.Millisecond
	// rtxShare is the percentage of the budget retransmissions may take,
	// and rtxFloor the least they may (bit/s).
	rtxShare = 25
	rtxFloor = 64_000
	// padSize is the padding of one probe packet (RTP's most: 255).
	padSize = 255
)

// newEstimator makes the estimator of one subscriber PeerConnection,
// sending through pacer. It writes no logs (Pion's default would go to
// stderr).
func newEstimator(pacer gcc.Pacer) (cc.BandwidthEstimator, error) {
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	return gcc.NewSendSideBWE(
		gcc.SendSideBWEInitialBitrate(initialEstimate),
		gcc.SendSideBWEMinBitrate(minEstimate),
		gcc.SendSideBWEMaxBitrate(maxEstimate),
		gcc.SendSideBWEPacer(pacer),
		gcc.WithLoggerFactory(quiet),
	)
}

// bwe is one subscriber's downlink estimate and what acts on it. The
// estimator is set while the PeerConnection is made; the rest is the
// allocator's (under Participant.allocMu) but for the atomics.
type bwe struct {
	est  cc.BandwidthEstimator // nil without estimation
	acks *ackrate.Meter        // what the downlink delivered (acked.go); nil without estimation

	alloc  allocate.Allocator
	prober allocate.Prober
	tracks []allocate.Track
	out    []allocate.Decision
	rates  []int // backing of tracks' Layers

	sent      atomic.Int64 // bytes written to the subscriber
	padSent   atomic.Int64 // of them, probe padding
	lastSent  int64
	lastPad   int64
	lastAt    int64 // unix nanos of the last allocation
	sendRate  int   // bit/s over the last interval
	validated int   // bit/s the link has carried since it was last found short
	proven    int   // bit/s a probe cluster sent without loss since then
	pending   int   // bit/s a probe sent in the last interval, not yet proven
	lastEst   int
	recent    [sustain]int // the last budgets, a ring
	next      int
	raised    int64 // unix nanos a track last went up a layer or resumed
	loss      atomic.Uint32
	probing   atomic.Bool
	probeRate atomic.Int64 // bit/s of padding the running cluster sends
	probeEnd  atomic.Int64 // unix nanos the cluster ends
	outage    atomic.Bool  // the subscriber's ICE went disconnected since the last allocation (icerestart.go)

	rtxMu sync.Mutex
	rtx   bucket // what retransmissions may take of the downlink (allowRTX)
}

// allowRTX reports whether a retransmission of size bytes fits the share
// of the downlink retransmissions may take: on a link found short, NACKs
// of the packets it dropped would otherwise be answered with more than it
// carries, and lose more. Without estimation, every one fits.
func (b *bwe) allowRTX(now int64, size int) bool {
	if b.est == nil {
		return true
	}
	b.rtxMu.Lock()
	defer b.rtxMu.Unlock()
	return b.rtx.take(now, int64(size)*8)
}

func (b *bwe) set(e cc.BandwidthEstimator) {
	b.est = e
	if a, ok := e.(*ackedEstimator); ok {
		b.acks = a.acks
	}
	b.validated = initialEstimate
	pr, err := allocate.NewProber(proberConfig)
	if err == nil {
		b.prober = *pr
	}
}

// proberConfig lets a cluster double what is sent, over up to four
// allocations: the budget follows what a probe sent without loss (and
// 1.5× what was sent), so a cluster climbs by itself while the link takes
// it. (A gentler ramp, a quarter per allocation over 4 s, did worse on a
// 300 kbit/s link in the Chromium test: longer overshoots.)
//
// The pause between clusters that found nothing doubles up to 8 s only: a
// link that was short for a while (and failed every cluster) is found
// again soon after it recovers.
var proberConfig = allocate.ProberConfig{
	Duration: 2 * time.Second, MaxOverhead: 1.0, MaxTotal: 2.0, MaxInterval: 8 * time.Second,
	DropTolerance: 0.15, // the budget follows what is sent, which wobbles by a few percent
}

// delivered takes the feedback of the last interval in: the rates at
// which the packets it reported arrived and had been sent; ok is false
// without enough of it to tell.
func (b *bwe) delivered() (recv, sent int, ok bool) {
	if b.acks == nil {
		return 0, 0, false
	}
	return rates(b.acks.Take())
}

// overshot reports whether the feedback so far in this interval shows
// the downlink falling behind what was sent.
func (b *bwe) overshot() bool {
	if b.acks == nil {
		return false
	}
	iv := b.acks.Peek()
	recv, sent, ok := rates(iv)
	return ok && iv.LastArrive-iv.FirstArrive >= int64(overshootSpan) && recv < sent*behindPercent/100
}

// rates are iv's receive and send rates, ok when both are known.
func rates(iv ackrate.Interval) (recv, sent int, ok bool) {
	recv, rok := iv.ReceiveRate()
	sent, sok := iv.SendRate()
	return recv, sent, rok && sok
}

// noteLoss records a receiver report's fraction lost (of 256).
func (b *bwe) noteLoss(fraction uint8) {
	for {
		cur := b.loss.Load()
		if uint32(fraction) <= cur || b.loss.CompareAndSwap(cur, uint32(fraction)) {
			return
		}
	}
}

// nominal are the bitrates assumed for a layer not measured yet: by the
// number of layers, then the layer.
var nominal = [][]int{{1_000_000}, {300_000, 1_500_000}, {150_000, 500_000, 1_500_000}}

const nominalAudio = 40_000

// allocateBW chooses every track's layer from the downlink estimate.
// Called with allocMu held, downs (sorted) and prefs in step.
func (p *Participant) allocateBW(now time.Time, downs []*downTrack, prefs []TrackSettings) {
	b := &p.bwe
	ns := now.UnixNano()

	sent, pad := b.sent.Load(), b.padSent.Load()
	padRate := 0
	if b.lastAt != 0 && ns > b.lastAt {
		b.sendRate = int((sent - b.lastSent) * 8 * int64(time.Second) / (ns - b.lastAt))
		padRate = int((pad - b.lastPad) * 8 * int64(time.Second) / (ns - b.lastAt))
	}
	b.lastSent, b.lastPad, b.lastAt = sent, pad, ns

	// Layers point into rates once rates has stopped growing.
	b.tracks, b.out, b.rates = b.tracks[:0], b.out[:0], b.rates[:0]
	video := false
	for i, d := range downs {
		u := d.up
		t := allocate.Track{Kind: allocate.Camera, MaxLayer: maxLayerFor(u, prefs[i]), Current: int(d.target.Load())}
		switch {
		case u.media == Audio || !u.layered():
			// Never cut: audio, and video of one encoding (there is
			// nothing lighter of it to send; it still takes its share).
			t.Kind = allocate.Audio
		case u.media == Screen:
			t.Kind, video = allocate.Screen, true
		default:
			video = true
		}
		for j, l := range u.layers {
			r := l.known(ns)
			if u.svc != nil {
				r = u.svcBitrate(j, ns) // spatial layers build on those below
			}
			if r == 0 {
				if u.media == Audio {
					r = nominalAudio
				} else {
					r = nominal[min(len(u.layers), 3)-1][min(j, 2)]
				}
			}
			if j == 0 && u.layered() {
				// The lowest layer is reckoned at lowestShare of its
				// bitrate: a picture that stutters beats none, so a track
				// is paused only when its link is clearly short of it.
				r = r * lowestShare / 100
			}
			b.rates = append(b.rates, r)
		}
		b.tracks = append(b.tracks, t)
		b.out = append(b.out, allocate.Decision{})
	}
	off := 0
	for i, d := range downs {
		n := len(d.up.layers)
		b.tracks[i].Layers = b.rates[off : off+n : off+n]
		off += n
	}

	// The budget: the estimate, but no more than the link has been seen
	// to carry (validated) or half as much again as was just sent. A link
	// never found short keeps the optimistic start; one that was is
	// trusted again only as far as the SFU has since sent through it.
	// Pion's estimate climbs slowly (8 % a second) after a fall: what a
	// probe cluster sent without loss or a fall of the estimate counts as
	// well (proven), as libwebrtc takes a probe's result at once.
	estimate := b.est.GetTargetBitrate()
	lost := float64(b.loss.Swap(0)) / 256
	if b.outage.Load() {
		if p.iceState(Subscriber) {
			// The path is back (an ICE restart, a network change): what
			// the estimator saw while it was cut off was no slow link.
			// Start again as at the beginning.
			b.outage.Store(false)
			b.validated, b.proven, b.pending, b.lastEst = initialEstimate, initialEstimate, 0, 0
			b.recent = [sustain]int{}
			b.delivered() // what was reported before the outage says nothing now
		}
		return // while it is cut off, the layers stay as they are
	}
	// What arrived of what was sent, by the TWCC feedback of the last
	// interval: a receive rate clearly behind the send rate of the same
	// packets is a queue filling or packets dropped, and then the
	// receive rate is what the link carries, at once (the estimator
	// takes seconds to fall that far, and a probe's overshoot meanwhile
	// is what freezes video).
	recv, sentAt, delivered := b.delivered()
	behind := delivered && recv < sentAt*behindPercent/100
	fell := b.lastEst > 0 && estimate < b.lastEst*(100-dropPercent)/100
	switch {
	case behind:
		// What the link carries, measured: more than it delivered was
		// sent, so it delivered all it could.
		b.validated, b.proven, b.pending = recv, recv, 0
	case lost > lossShort || fell && !delivered:
		// Loss, or (with no delivery figures to say otherwise) the
		// estimator's fall. With them, a fall of the estimate while
		// the link delivers what it is sent is a delay measure's
		// false alarm (a busy machine's scheduling, a keyframe's
		// burst): the delivery is the better witness.
		b.validated = min(b.validated, estimate)
		b.proven = min(b.proven, estimate)
		b.pending = 0
	default:
		// What the link delivered counts (proven) once the next interval,
		// too, went by without it found short: loss reports lag.
		b.proven = max(b.proven, b.pending)
		b.pending = 0
		switch {
		case delivered:
			b.pending = min(recv, sentAt) // what was sent, as far as it arrived
		case b.prober.Probing():
			b.pending = b.sendRate
		}
	}
	b.lastEst = estimate
	trust := max(estimate, b.proven)
	b.validated = max(b.validated, min(b.sendRate, trust))
	budget := min(trust, max(b.validated, b.sendRate*3/2+sentSlack))
	// A fall acts once it lasts: the highest of the last few budgets
	// counts. A busy machine's scheduling delays or one keyframe's burst
	// can make the estimate dip for a moment on a link that is fine.
	if behind {
		// Measured, not estimated: the link delivers less than it is
		// given, now. Waiting would only fill its queue.
		b.recent = [sustain]int{}
	}
	b.recent[b.next%len(b.recent)] = budget
	b.next++
	for _, r := range b.recent {
		budget = max(budget, r)
	}
	b.rtxMu.Lock()
	b.rtx.rate = int64(max(rtxFloor, budget*rtxShare/100))
	b.rtxMu.Unlock()
	a := b.alloc.Allocate(budget, b.tracks, b.out)
	for i, d := range downs {
		dec := b.out[i]
		if dec.Layer > b.tracks[i].Current {
			b.raised = ns // a layer up (or a resume): its keyframe first
		}
		d.choose(ns, b.tracks[i].MaxLayer, dec.Layer)
		d.setFPS(prefs[i].FPS)
		if dec.Paused != d.pausedBW {
			d.pausedBW = dec.Paused
			p.ev.TrackPaused(d.up.id, dec.Paused)
		}
	}

	if lost > 0 {
		b.prober.Lost(now, lost)
	}
	if behind {
		b.prober.Lost(now, 1) // a running cluster has failed, if it did not stop itself
	}
	target := a.Next
	if ns-b.raised < int64(settle) {
		target = 0 // no probe on top of a new layer's keyframe
	}
	// The prober tops the media up to its target: what it is given as
	// sent is the media alone. With its own padding counted, a running
	// cluster would send a little one interval and a lot the next, and
	// prove next to nothing (it took 50 s to find a link recovered from
	// 100 kbit/s again).
	probe := b.prober.Next(now, budget, max(b.sendRate-padRate, 0), target)
	if probe > 0 && video {
		p.probe(probe, b.prober.Until())
	} else {
		b.probeRate.Store(0)
		b.probeEnd.Store(0) // a running cluster stops at its next tick
	}
}

// iceState reports whether side's ICE is connected now.
func (p *Participant) iceState(side Side) bool {
	switch p.pc(side).ICEConnectionState() {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		return true
	}
	return false
}

// probe sends padding at rate bit/s until end, on a goroutine of its own
// (a running one takes the new rate and end).
func (p *Participant) probe(rate int, end time.Time) {
	b := &p.bwe
	b.probeRate.Store(int64(rate))
	b.probeEnd.Store(end.UnixNano())
	if !b.probing.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		b.probing.Store(false)
		return
	}
	p.wg.Add(1) // p.wg is not waited on before closed is set
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer b.probing.Store(false)
		tick := time.NewTicker(probeTick)
		defer tick.Stop()
		var h rtp.Header
		debt := 0.0 // bytes owed
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			now := p.s.cfg.Now()
			if now.UnixNano() >= b.probeEnd.Load() {
				return
			}
			if b.overshot() {
				// The link already falls behind what is sent: more
				// padding would only fill its queue (and freeze the
				// video). The next allocation hears why (behind).
				b.probeEnd.Store(0)
				return
			}
			debt += float64(b.probeRate.Load()) / 8 * probeTick.Seconds()
			d := p.probeTrack()
			if d == nil {
				return
			}
			for sent := 0; debt >= padSize && sent < 64; sent++ {
				if !d.pad(&h) {
					return
				}
				debt -= padSize + 12
			}
		}
	}()
}

// probeTrack returns a track of p to pad on: a video track being sent,
// else a paused one, else any (audio, when every video is paused).
func (p *Participant) probeTrack() *downTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	var paused, other *downTrack
	for _, d := range p.down {
		switch {
		case d.up.kind != webrtc.RTPCodecTypeVideo.String():
			other = d
		case d.cur.Load() >= 0 && d.target.Load() >= 0:
			return d
		default:
			paused = d
		}
	}
	if paused != nil {
		return paused
	}
	return other
}

// known is the layer's measured bitrate, or the last one measured while
// it was being sent (a layer dynacast turned off still costs that).
func (l *layer) known(now int64) int {
	if r := l.bitrate(now); r > 0 {
		l.lastRate.Store(int64(r))
		return r
	}
	return int(l.lastRate.Load())
}
