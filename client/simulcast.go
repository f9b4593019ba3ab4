package client

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/signaling"
)

// SimulcastLayer configures one layer of a SimulcastTrack.
type SimulcastLayer struct {
	RID           string // its rid in a=rid and the rtp-stream-id extension
	Bitrate       int    // bit/s
	Width, Height int    // of the VP8 picture (H.264 always announces 320x240)
}

// DefaultSimulcastLayers are the layers Lethe's own clients send, lowest
// first: "q" (quarter), "h" (half) and "f" (full resolution of 1280x720).
func DefaultSimulcastLayers() []SimulcastLayer {
	return []SimulcastLayer{
		{RID: "q", Bitrate: 150_000, Width: 320, Height: 180},
		{RID: "h", Bitrate: 500_000, Width: 640, Height: 360},
		{RID: "f", Bitrate: 1_500_000, Width: 1280, Height: 720},
	}
}

// SimulcastOptions configure a SimulcastTrack.
type SimulcastOptions struct {
	// Layers, lowest first, at most signaling.MaxLayers; default
	// DefaultSimulcastLayers. RIDs must be distinct and non-empty.
	Layers []SimulcastLayer
	// Source is what the layers share: FPS, Pacing, KeyframeInterval, Now,
	// NewTicker, Fill, E2EE. Each layer's Bitrate, Width, Height, marker stream
	// and layer come from Layers.
	Source SourceOptions
}

// SimulcastTrack is a video track sent as several layers, each its own
// RTP stream with its own rid, source, markers (Marker.Layer) and
// keyframes. Publish it with Client.PublishSimulcast, then Start it; each
// layer answers the PLI and FIR of its own SSRC with a keyframe of its
// own, and stops and resumes when the server's layersWanted says so
// (dynacast). Close it when done.
type SimulcastTrack struct {
	id, streamID string
	layers       []*LayerTrack
}

// LayerTrack is one layer of a SimulcastTrack.
type LayerTrack struct {
	*ridTrack
	*Source
	Index int // 0 the lowest
}

// RID is the layer's rid.
func (l *LayerTrack) RID() string { return l.ridTrack.RID() }

// NewVP8SimulcastTrack returns a VP8 simulcast track with the given track
// and MediaStream ids.
func NewVP8SimulcastTrack(id, streamID string, opts SimulcastOptions) (*SimulcastTrack, error) {
	return newSimulcastTrack(id, streamID, webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
	}, opts, NewVP8Source)
}

// NewH264SimulcastTrack returns an H.264 simulcast track (packetization
// mode 1); its layers differ in bitrate only.
func NewH264SimulcastTrack(id, streamID string, opts SimulcastOptions) (*SimulcastTrack, error) {
	return newSimulcastTrack(id, streamID, webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, opts, NewH264Source)
}

func newSimulcastTrack(id, streamID string, c webrtc.RTPCodecCapability, opts SimulcastOptions,
	newSource func(RTPWriter, SourceOptions) (*Source, error),
) (*SimulcastTrack, error) {
	layers := opts.Layers
	if len(layers) == 0 {
		layers = DefaultSimulcastLayers()
	}
	if len(layers) > signaling.MaxLayers {
		return nil, fmt.Errorf("simulcast track: %d layers, at most %d: %w", len(layers), signaling.MaxLayers, ErrBadOption)
	}
	st := &SimulcastTrack{id: id, streamID: streamID}
	seen := map[string]bool{}
	for i, l := range layers {
		if l.RID == "" || seen[l.RID] || len(l.RID) > 16 {
			return nil, fmt.Errorf("simulcast track: layer %d rid %q: %w", i, l.RID, ErrBadOption)
		}
		seen[l.RID] = true
		t, err := webrtc.NewTrackLocalStaticRTP(c, id, streamID, webrtc.WithRTPStreamID(l.RID))
		if err != nil {
			return nil, fmt.Errorf("simulcast track: %w", err)
		}
		so := opts.Source
		so.Bitrate, so.Width, so.Height = l.Bitrate, l.Width, l.Height
		so.MarkerStream = 0 // each layer is its own marker stream
		so.Simulcast, so.Layer = true, i
		rt := &ridTrack{TrackLocalStaticRTP: t, rid: []byte(l.RID)}
		s, err := newSource(rt, so)
		if err != nil {
			return nil, fmt.Errorf("simulcast track: layer %s: %w", l.RID, err)
		}
		st.layers = append(st.layers, &LayerTrack{ridTrack: rt, Source: s, Index: i})
	}
	return st, nil
}

// ID is the track id.
func (t *SimulcastTrack) ID() string { return t.id }

// StreamID is the MediaStream id.
func (t *SimulcastTrack) StreamID() string { return t.streamID }

// Layers returns the layers, lowest first.
func (t *SimulcastTrack) Layers() []*LayerTrack { return t.layers }

// Layer returns the layer with that rid, or nil.
func (t *SimulcastTrack) Layer(rid string) *LayerTrack {
	for _, l := range t.layers {
		if l.RID() == rid {
			return l
		}
	}
	return nil
}

// Start starts every layer's source (see Source.Start).
func (t *SimulcastTrack) Start(ctx context.Context) {
	for _, l := range t.layers {
		l.Source.Start(ctx)
	}
}

// Close stops every layer's source and waits for them.
func (t *SimulcastTrack) Close() error {
	for _, l := range t.layers {
		_ = l.Source.Close()
	}
	return nil
}

// Stats returns the sum of the layers' counters.
func (t *SimulcastTrack) Stats() SourceStats {
	var sum SourceStats
	for _, l := range t.layers {
		st := l.Source.Stats()
		sum.Frames += st.Frames
		sum.Keyframes += st.Keyframes
		sum.Packets += st.Packets
		sum.Bytes += st.Bytes
		sum.WriteErrors += st.WriteErrors
		sum.PLIs += st.PLIs
		sum.NACKs += st.NACKs
		sum.Skipped += st.Skipped
	}
	return sum
}

// setLayersWanted applies a layersWanted message: the layers it names
// stop or resume; layers it does not name stay as they are.
func (t *SimulcastTrack) setLayersWanted(states []signaling.LayerState) {
	for _, s := range states {
		if l := t.Layer(s.RID); l != nil {
			l.SetActive(s.Active)
		}
	}
}

// ridTrack is a simulcast layer's TrackLocalStaticRTP that writes the
// mid and rtp-stream-id header extensions into every packet, as browsers
// do: a receiver learns from them which m-section and layer an SSRC the
// SDP does not declare belongs to. Pion's sender does not add them.
type ridTrack struct {
	*webrtc.TrackLocalStaticRTP
	rid []byte
	ext atomic.Pointer[layerExt] // set by Bind and setMid
}

type layerExt struct {
	midID, ridID uint8
	mid          []byte
}

// Bind records the negotiated extension ids.
func (t *ridTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticRTP.Bind(ctx)
	if err != nil {
		return p, err
	}
	e := layerExt{}
	if old := t.ext.Load(); old != nil {
		e.mid = old.mid
	}
	for _, h := range ctx.HeaderExtensions() {
		switch h.URI {
		case sdp.SDESMidURI:
			e.midID = uint8(h.ID) //nolint:gosec // extension ids are 1-14
		case sdp.SDESRTPStreamIDURI:
			e.ridID = uint8(h.ID) //nolint:gosec // extension ids are 1-14
		}
	}
	t.ext.Store(&e)
	return p, nil
}

// setMid sets the m-section's mid, known once the offer is made.
func (t *ridTrack) setMid(mid string) {
	e := layerExt{mid: []byte(mid)}
	if old := t.ext.Load(); old != nil {
		e.midID, e.ridID = old.midID, old.ridID
	}
	t.ext.Store(&e)
}

// WriteRTP adds the extensions and writes p.
func (t *ridTrack) WriteRTP(p *rtp.Packet) error {
	if e := t.ext.Load(); e != nil {
		if e.midID != 0 && len(e.mid) > 0 {
			if err := p.Header.SetExtension(e.midID, e.mid); err != nil {
				return fmt.Errorf("simulcast track: mid extension: %w", err)
			}
		}
		if e.ridID != 0 {
			if err := p.Header.SetExtension(e.ridID, t.rid); err != nil {
				return fmt.Errorf("simulcast track: rid extension: %w", err)
			}
		}
	}
	return t.TrackLocalStaticRTP.WriteRTP(p)
}

var (
	_ webrtc.TrackLocal = (*ridTrack)(nil)
	_ RTPWriter         = (*ridTrack)(nil)
)

// sendOnlyRIDs returns a publisher offer without the rids it would
// receive: the a=rid:<id> recv and a=simulcast:recv lines. Pion, as the
// offerer of a simulcast section that has been answered, copies the
// answer's rids into every later offer as rids to receive (v4.2.26's
// generateMatchedSDP), next to its own send lines: two a=simulcast lines,
// and three rids named twice, which no answerer takes and the server
// refuses (a=simulcast must be "send ..."). Every renegotiation after a
// PublishSimulcast (an ICE restart, another track) would fail. The
// publisher receives nothing, so those lines never mean anything; the
// rest is kept byte for byte.
func sendOnlyRIDs(offer string) string {
	var b strings.Builder
	b.Grow(len(offer))
	for rest := offer; rest != ""; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if recvRID(strings.TrimRight(line, "\r\n")) {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// recvRID reports whether an SDP line declares rids to receive.
func recvRID(l string) bool {
	if v, ok := strings.CutPrefix(l, "a=simulcast:"); ok {
		return strings.HasPrefix(v, "recv ")
	}
	v, ok := strings.CutPrefix(l, "a=rid:")
	if !ok {
		return false
	}
	f := strings.Fields(v)
	return len(f) >= 2 && f[1] == "recv"
}
