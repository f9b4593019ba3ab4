package client

import (
	"fmt"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Track is a local WebRTC track fed by a synthetic Source. Publish it with
// Client.Publish; the client forwards PLI and FIR from the remote end to
// RequestKeyframe. Start the source after publishing and Close it when done.
type Track struct {
	*webrtc.TrackLocalStaticRTP
	*Source
}

var (
	_ webrtc.TrackLocal = (*Track)(nil)
	_ RTPWriter         = (*webrtc.TrackLocalStaticRTP)(nil)
)

// The codec capabilities below match Pion's default MediaEngine codecs.

// NewVP8Track returns a VP8 track with the given track and MediaStream ids.
func NewVP8Track(id, streamID string, opts SourceOptions) (*Track, error) {
	return newTrack(id, streamID, webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
	}, opts, NewVP8Source)
}

// NewH264Track returns an H.264 track (packetization-mode 1).
func NewH264Track(id, streamID string, opts SourceOptions) (*Track, error) {
	return newTrack(id, streamID, webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, opts, NewH264Source)
}

// NewOpusTrack returns an Opus track.
func NewOpusTrack(id, streamID string, opts SourceOptions) (*Track, error) {
	return newTrack(id, streamID, webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	}, opts, NewOpusSource)
}

// Bind is webrtc.TrackLocal's: it binds the track to a sender, and an
// audio source learns the id the sender negotiated for the audio level
// extension, which it then writes into every packet.
func (t *Track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticRTP.Bind(ctx)
	if err != nil {
		return p, err
	}
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == sdp.AudioLevelURI {
			t.setAudioLevelID(e.ID)
		}
	}
	return p, nil
}

func newTrack(id, streamID string, c webrtc.RTPCodecCapability, opts SourceOptions,
	newSource func(RTPWriter, SourceOptions) (*Source, error),
) (*Track, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(c, id, streamID)
	if err != nil {
		return nil, fmt.Errorf("track: %w", err)
	}
	s, err := newSource(t, opts)
	if err != nil {
		return nil, err
	}
	return &Track{TrackLocalStaticRTP: t, Source: s}, nil
}
