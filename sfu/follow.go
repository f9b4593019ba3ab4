package sfu

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/internal/rewrite"
)

// Following the speaker. A player that offers to receive (WHEP) may ask
// for the room's current speaker instead of naming tracks: its offer's
// first audio and first video m-section then each carry one stream, a
// slot, whose source is switched from one publisher's track to another's
// as the room's speakers change, without a new negotiation. Every switch
// happens on the slot's one RTP sender (RTPSender.ReplaceTrack, so the
// same SSRC), and the slot's rewrite.Stream and VP8 picture ids carry on
// across it, so the player sees one continuous stream per section; a
// video switch waits for the new source's keyframe (asked for with a
// PLI), and until it comes the player shows the last frame it had.
//
// Whom it follows: the first speaker of the room's ranked list
// (speakers.go) who publishes a track the player can receive, once
// followDwell has passed since the last switch (so that two people
// talking over each other do not flip the picture every 200 ms); at
// once, when what a slot carries stops (unpublished, muted, blocked).
// A slot whose followed participant has no track of its kind (an
// audio-only speaker) keeps the source it has. When nobody speaks, the
// slots keep theirs. A slot with nothing left to carry falls back to
// any other publisher of its kind, and, with none, sends nothing until
// one publishes.

// followDwell is the least time between two changes of the participant
// followed, unless what it carried stopped.
const followDwell = 2 * time.Second

// follower is the state of a participant that follows the speaker. Its
// fields other than slots are the participant's reconcile goroutine's
// (subMu held).
type follower struct {
	slots    []*followSlot
	owner    string // the participant followed: the id of the last source's owner
	switched int64  // unix nanos of the last change of owner
	timer    func() bool
}

// followSlot is one m-section of a follower: its sender, the source it
// carries now, and the stream state that outlives each source.
type followSlot struct {
	kind   webrtc.RTPCodecType
	sender *webrtc.RTPSender
	cur    atomic.Pointer[downTrack] // nil: carries nothing now
	rw     *rewrite.Stream
	vp8    vp8Munger // the last VP8 source's picture ids, guarded by subMu
}

// following returns p's follower, nil for a participant that names its
// tracks (or is negotiated by the SFU's offers).
func (p *Participant) following() *follower { return p.follow.Load() }

// AnswerFollowing answers a player's offer on the subscriber (as
// AnswerSubscriber) with the room's current speaker: its first audio
// and first video m-section follow the speaker from now on, each as one
// stream that is sent from whichever source the section carries (none
// yet, when nobody publishes its kind: it starts once someone does).
func (p *Participant) AnswerFollowing(offer string) (string, error) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	f := &follower{}
	if !p.follow.CompareAndSwap(nil, f) {
		return "", ErrSubscriberOffered
	}
	if err := p.takeSubscriberOffer(offer); err != nil {
		p.follow.Store(nil)
		return "", err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if p.freeSection(kind) == nil {
			continue
		}
		// A sender with no source yet: the answer gives the section its
		// SSRC and msid, and ReplaceTrack changes what it sends.
		s, err := p.sub.AddTrack(idleTrack{kind})
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		clock := uint32(90000)
		if kind == webrtc.RTPCodecTypeAudio {
			clock = 48000 // Opus, the one audio codec
		}
		sl := &followSlot{kind: kind, sender: s, rw: rewrite.New(clock)}
		f.slots = append(f.slots, sl)
		p.s.wg.Add(1)
		go func() {
			defer p.s.wg.Done()
			readRTCP(s, sl.cur.Load, p.isClosed)
		}()
	}
	if len(f.slots) == 0 {
		return "", fmt.Errorf("%w: the offer receives neither audio nor video", ErrBadSDP)
	}
	answer, err := p.answerSubscriberOffer()
	if err != nil {
		return "", err
	}
	p.kick() // refollow gives the slots their sources
	return answer, nil
}

// idleTrack is what a follower's slot sends while it has no source:
// nothing, on the section's first codec.
type idleTrack struct{ kind webrtc.RTPCodecType }

func (t idleTrack) ID() string                            { return "speaker-" + t.kind.String() }
func (t idleTrack) StreamID() string                      { return "speaker" }
func (t idleTrack) RID() string                           { return "" }
func (t idleTrack) Kind() webrtc.RTPCodecType             { return t.kind }
func (t idleTrack) Unbind(webrtc.TrackLocalContext) error { return nil }

func (t idleTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// newSource returns a downTrack of u for the slot: it continues the
// slot's stream, and rewrites VP8 picture ids so that they go on from
// the last source's.
func (sl *followSlot) newSource(u *upTrack, p *Participant) *downTrack {
	d := newDownTrack(u, p)
	d.rw = sl.rw
	if u.vp8 {
		d.munge = true
		d.vp8 = sl.vp8
		d.vp8.rebase()
		if d.scratch == nil {
			d.scratch = make([]byte, 1500)
		}
	}
	return d
}

// accepts reports whether the slot's negotiated codecs include u's.
func (sl *followSlot) accepts(u *upTrack) bool {
	for _, c := range sl.sender.GetParameters().Codecs {
		if strings.EqualFold(c.MimeType, u.codec) {
			return true
		}
	}
	return false
}

// refollow gives each of f's slots the source it should carry now. It is
// p's reconcile when p follows the speaker: the SFU never offers to it.
func (p *Participant) refollow(f *follower) error {
	now := p.s.cfg.Now().UnixNano()
	p.subMu.Lock()
	defer p.subMu.Unlock()
	if p.isClosed() || len(f.slots) == 0 {
		return nil
	}
	kinds := make([]webrtc.RTPCodecType, len(f.slots))
	for i, sl := range f.slots {
		kinds[i] = sl.kind
	}
	want := p.room.followSources(p, f, now, kinds)
	for i, sl := range f.slots {
		old, u := sl.cur.Load(), want[i]
		if old != nil && old.up == u || old == nil && u == nil {
			continue
		}
		if err := p.switchSource(sl, old, u); err != nil {
			p.log.Debug("following the speaker: switch failed", "err", err.Error())
			continue
		}
		if u != nil && u.owner.id != f.owner {
			f.owner, f.switched = u.owner.id, now
		}
	}
	return nil
}

// switchSource makes sl carry u (nil: nothing) instead of old (nil:
// nothing). Called with subMu held.
func (p *Participant) switchSource(sl *followSlot, old *downTrack, u *upTrack) error {
	var next *downTrack
	// Never ReplaceTrack(nil): were a later Bind to fail, Pion would bind
	// the nil track it replaced again.
	var tl webrtc.TrackLocal = idleTrack{sl.kind}
	if old != nil {
		// Nothing more of old's: once setBinding returns it writes no
		// packet, so its picture ids and the stream's numbering are final.
		old.setBinding(nil)
		old.mu.Lock()
		if old.munge {
			sl.vp8 = old.vp8
		}
		old.mu.Unlock()
	}
	sl.rw.Pause() // the next source's first packet starts an epoch
	if u != nil {
		next = sl.newSource(u, p)
		next.sender = sl.sender
		tl = next
	}
	if err := sl.sender.ReplaceTrack(tl); err != nil {
		// Pion bound old again (or the idle track): it carries on.
		return err
	}
	p.mu.Lock()
	if old != nil && p.down[old.up.id] == old {
		delete(p.down, old.up.id)
	}
	if next != nil {
		p.down[u.id] = next
	}
	p.mu.Unlock()
	if old != nil {
		old.close()
		old.up.updateWanted()
	}
	if next != nil {
		next.attach()
	}
	sl.cur.Store(next)
	return nil
}

// followSources returns, for each of kinds, the track p's slot of that
// kind should carry at now (nil: none), following the rules at the top
// of this file. It arms a kick for when followDwell will have passed if
// a change of speaker has to wait for it.
func (r *room) followSources(p *Participant, f *follower, now int64, kinds []webrtc.RTPCodecType) []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.mu.Lock()
	receive := p.receive
	p.mu.Unlock()
	slotOf := func(kind webrtc.RTPCodecType) *followSlot {
		for _, sl := range f.slots {
			if sl.kind == kind {
				return sl
			}
		}
		return nil
	}
	// can reports whether u may be what the slot of kind carries.
	can := func(u *upTrack, kind webrtc.RTPCodecType) bool {
		if u == nil || r.tracks[u.id] != u || u.isClosed() || u.paused() || u.owner == p ||
			u.remote.Kind() != kind || receive&u.media == 0 {
			return false
		}
		sl := slotOf(kind)
		return sl == nil || sl.accepts(u)
	}
	// trackOf returns owner's track of kind the slot may carry: a camera
	// before a screen, then by id.
	trackOf := func(owner string, kind webrtc.RTPCodecType) *upTrack {
		var best *upTrack
		for _, u := range r.tracks {
			if u.owner.id != owner || !can(u, kind) {
				continue
			}
			if best == nil || best.media == Screen && u.media != Screen ||
				(best.media == Screen) == (u.media == Screen) && u.id < best.id {
				best = u
			}
		}
		return best
	}
	// The participant to follow: the first speaker with something to
	// send, when the dwell allows a change.
	owner := f.owner
	for _, sp := range r.speakers {
		if !slices.ContainsFunc(kinds, func(k webrtc.RTPCodecType) bool { return trackOf(sp.ParticipantID, k) != nil }) {
			continue
		}
		if sp.ParticipantID == owner {
			break
		}
		followed := owner != "" && slices.ContainsFunc(kinds, func(k webrtc.RTPCodecType) bool { return trackOf(owner, k) != nil })
		if wait := f.switched + int64(followDwell) - now; followed && wait > 0 {
			if f.timer != nil {
				f.timer()
			}
			f.timer = p.s.cfg.AfterFunc(time.Duration(wait), p.kick)
			break
		}
		owner = sp.ParticipantID
		break
	}
	out := make([]*upTrack, len(kinds))
	for i, kind := range kinds {
		if u := trackOf(owner, kind); u != nil {
			out[i] = u
			continue
		}
		if sl := slotOf(kind); sl != nil {
			if cur := sl.cur.Load(); cur != nil && can(cur.up, kind) {
				out[i] = cur.up // an audio-only speaker: the picture stays
				continue
			}
		}
		// Nothing to keep: a speaker's track, else anyone's.
		for _, sp := range r.speakers {
			if u := trackOf(sp.ParticipantID, kind); u != nil {
				out[i] = u
				break
			}
		}
		if out[i] != nil {
			continue
		}
		for _, u := range r.tracks {
			if can(u, kind) && (out[i] == nil || u.owner.id < out[i].owner.id || u.owner == out[i].owner && u.id < out[i].id) {
				out[i] = u
			}
		}
	}
	return out
}
