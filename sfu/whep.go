package sfu

import (
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// ErrSubscriberOffered refuses a client's offer on a subscriber that the
// SFU negotiates with its own offers, or that is negotiated already.
var ErrSubscriberOffered = errors.New("sfu: the subscriber is negotiated by the server's offers")

// AnswerSubscriber answers a client's offer on the subscriber
// PeerConnection, for a player that offers instead of answering (WHEP):
// each of trackIDs takes an m-section of the offer that receives its kind,
// in order; a track for which the offer has no such section left is not
// sent, and an m-section no track takes stays without one (Pion answers
// it inactive). The tracks are subscribed as by Subscribe.
//
// It is the subscriber's first and only negotiation: once answered, the
// SFU does not offer to it again for the tracks it carries (a track that
// is unpublished stops; the SFU's offer for that goes unanswered, which
// changes nothing for the others). A participant whose subscriber has
// already been offered or answered gets ErrSubscriberOffered.
func (p *Participant) AnswerSubscriber(offer string, trackIDs []string) (string, error) {
	p.mu.Lock()
	receive := p.receive
	p.mu.Unlock()
	ups := make([]*upTrack, 0, len(trackIDs))
	for _, id := range trackIDs {
		u := p.room.track(id)
		if u == nil || u.owner == p {
			return "", fmt.Errorf("%w: %s", ErrUnknownTrack, id)
		}
		if receive&u.media == 0 {
			return "", fmt.Errorf("%w: may not receive %s", ErrNotAllowed, u.media)
		}
		ups = append(ups, u)
	}

	p.subMu.Lock()
	defer p.subMu.Unlock()
	if err := p.takeSubscriberOffer(offer); err != nil {
		return "", err
	}
	// The offer's receiving sections are transceivers without a sender
	// now: AddTrack takes the first of the track's kind.
	for _, u := range ups {
		if p.freeSection(u.remote.Kind()) == nil {
			continue
		}
		d := newDownTrack(u, p)
		s, err := p.sub.AddTrack(d)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		d.sender = s
		p.mu.Lock()
		p.subscribed[u.id] = true
		p.down[u.id] = d
		p.mu.Unlock()
		d.start()
	}
	return p.answerSubscriberOffer()
}

// takeSubscriberOffer applies a player's offer to the subscriber, if it
// is the subscriber's first negotiation. Called with subMu held.
func (p *Participant) takeSubscriberOffer(offer string) error {
	if p.isClosed() {
		return ErrClosed
	}
	if p.sub.SignalingState() != webrtc.SignalingStateStable || p.sub.CurrentRemoteDescription() != nil || p.needOffer {
		return ErrSubscriberOffered
	}
	desc := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}
	parsed, err := desc.Unmarshal()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := checkICECredentials(parsed); err != nil {
		return err
	}
	remote, _ := refuseUnsupported(offer) // no data channels, no H.264 profile it cannot forward
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: remote}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.applyEarlyCandidates(Subscriber)
	return nil
}

// freeSection returns the first transceiver of the player's offer that
// receives kind and has no track yet, or nil. Called with subMu held.
func (p *Participant) freeSection(kind webrtc.RTPCodecType) *webrtc.RTPTransceiver {
	for _, t := range p.sub.GetTransceivers() {
		if t.Kind() == kind && t.Sender() == nil && t.Direction() == webrtc.RTPTransceiverDirectionSendonly {
			return t
		}
	}
	return nil
}

// answerSubscriberOffer answers the offer takeSubscriberOffer applied,
// with the tracks added since. Called with subMu held.
func (p *Participant) answerSubscriberOffer() (string, error) {
	answer, err := p.sub.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := p.sub.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	out, _ := refuseUnsupported(answer.SDP)
	return out, nil
}
