package sfu_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// ridLayer is one layer of a test publisher's simulcast track: it writes
// the mid and rtp-stream-id header extensions into every packet, by
// which the SFU's Pion places an SSRC the offer does not declare (the Go
// client's own simulcast layers do the same).
type ridLayer struct {
	*webrtc.TrackLocalStaticRTP
	rid          string
	mid          atomic.Pointer[string]
	midID, ridID atomic.Uint32
}

func (l *ridLayer) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := l.TrackLocalStaticRTP.Bind(ctx)
	for _, h := range ctx.HeaderExtensions() {
		switch h.URI {
		case sdp.SDESMidURI:
			l.midID.Store(uint32(h.ID))
		case sdp.SDESRTPStreamIDURI:
			l.ridID.Store(uint32(h.ID))
		}
	}
	return p, err
}

func (l *ridLayer) WriteRTP(p *rtp.Packet) error {
	if mid := l.mid.Load(); mid != nil && l.midID.Load() != 0 {
		if err := p.Header.SetExtension(uint8(l.midID.Load()), []byte(*mid)); err != nil {
			return err
		}
	}
	if id := l.ridID.Load(); id != 0 {
		if err := p.Header.SetExtension(uint8(id), []byte(l.rid)); err != nil {
			return err
		}
	}
	return l.TrackLocalStaticRTP.WriteRTP(p)
}

// publishSimulcast publishes a VP8 track of the given layers (lowest
// first) from e, and returns each layer's source, not started.
func (e *endpoint) publishSimulcast(api *webrtc.API, layers []client.SimulcastLayer) []*client.Source {
	t := e.t
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	e.pub = &remotePC{pc: pc}
	tracks := make([]*ridLayer, len(layers))
	srcs := make([]*client.Source, len(layers))
	for i, l := range layers {
		tl, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			"cam", "stream", webrtc.WithRTPStreamID(l.RID))
		if err != nil {
			t.Fatal(err)
		}
		tracks[i] = &ridLayer{TrackLocalStaticRTP: tl, rid: l.RID}
		srcs[i], err = client.NewVP8Source(tracks[i], client.SourceOptions{
			Bitrate: l.Bitrate, Width: l.Width, Height: l.Height, Simulcast: true, Layer: i, KeyframeInterval: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	x, err := pc.AddTransceiverFromTrack(tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range tracks[1:] {
		if err := x.Sender().AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range tracks {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				pkts, _, err := x.Sender().ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						srcs[i].RequestKeyframe()
					}
				}
			}
		}()
	}
	e.negotiatePublisher()
	mid := x.Mid()
	for _, l := range tracks {
		l.mid.Store(&mid)
	}
	return srcs
}

// measuredLayers returns the layers of the last TrackLayers e heard of
// track id, "" if none, as "rid:WxH@on" (on: bitrate > 0) each.
func measuredLayers(e *endpoint, id string) (last string, n int) {
	e.ev.with(func(r *recorder) bool {
		for _, ti := range r.measured {
			if ti.ID == id {
				last, n = layersString(ti.Layers), n+1
			}
		}
		return true
	})
	return last, n
}

func layersString(ls []sfu.Layer) string {
	out := ""
	for _, l := range ls {
		out += fmt.Sprintf("%s:%dx%d@%v ", l.RID, l.Width, l.Height, l.Bitrate > 0)
	}
	return out
}

// A simulcast track's layers, once measured, reach everyone in the room
// as TrackLayers: sizes and bitrates of all three; the events of a track
// that sends steadily are bounded (one per 2 s at most); a participant
// who joins later finds them measured in what it is told of the room;
// and a layer that stops is told of with bitrate 0.
func TestTrackLayers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "usub", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "upub", Send: sfu.AllMedia})
	defer pub.shutdown()
	srcs := pub.publishSimulcast(api, []client.SimulcastLayer{
		{RID: "q", Bitrate: 100_000, Width: 320, Height: 180},
		{RID: "h", Bitrate: 250_000, Width: 640, Height: 360},
		{RID: "f", Bitrate: 600_000, Width: 1280, Height: 720},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, src := range srcs {
		src.Start(ctx)
		defer src.Close()
	}
	var id string
	waitFor(t, "TrackPublished", func() bool {
		return sub.ev.with(func(r *recorder) bool {
			if len(r.published) > 0 {
				id = r.published[0].ID
				if got := layersString(r.published[0].Layers); got != "q:0x0@false h:0x0@false f:0x0@false " {
					t.Logf("published with %s", got) // measured already: not expected, but true
				}
			}
			return id != ""
		})
	})
	all := "q:320x180@true h:640x360@true f:1280x720@true "
	waitFor(t, "all three layers measured", func() bool { l, _ := measuredLayers(sub, id); return l == all })
	if l, _ := measuredLayers(pub, id); l == "" {
		t.Error("the publisher heard no TrackLayers")
	}
	sub.ev.with(func(r *recorder) bool {
		ti := r.measured[len(r.measured)-1]
		if ti.ParticipantID != pub.p.ID() || ti.Layers[0].Bitrate >= ti.Layers[1].Bitrate || ti.Layers[1].Bitrate >= ti.Layers[2].Bitrate {
			t.Errorf("TrackLayers %+v", ti)
		}
		for _, l := range ti.Layers {
			if l.Bitrate%1000 != 0 {
				t.Errorf("layer %s: bitrate %d not rounded to 1 kbit/s", l.RID, l.Bitrate)
			}
		}
		return true
	})

	// Steady layers: a bound on the events, not a measure of their speed.
	_, n0 := measuredLayers(sub, id)
	time.Sleep(6 * time.Second)
	if _, n := measuredLayers(sub, id); n-n0 > 4 {
		t.Errorf("%d TrackLayers in 6 s of one steady track, want at most 4", n-n0)
	} else {
		t.Logf("%d TrackLayers in 6 s of a steady track", n-n0)
	}

	late, others := join(t, s, api, "late", sfu.ParticipantConfig{UserID: "ulate", Receive: sfu.AllMedia})
	defer late.shutdown()
	found := false
	for _, o := range others {
		for _, ti := range o.Tracks {
			if ti.ID == id {
				found = true
				if got := layersString(ti.Layers); got != all {
					t.Errorf("a late joiner is told of layers %s, want %s", got, all)
				}
			}
		}
	}
	if !found {
		t.Error("a late joiner is not told of the track")
	}

	srcs[2].SetActive(false)
	waitFor(t, "f told stopped", func() bool {
		l, _ := measuredLayers(sub, id)
		return l == "q:320x180@true h:640x360@true f:1280x720@false "
	})
}
