package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// The server's layersWanted stops the layers nobody wants and starts them
// again with a keyframe; trackSettings is acked, an unknown track's is an
// error 4001, and trackPaused, trackLayer and trackLayers arrive typed.
func TestDynacastAndTrackSettings(t *testing.T) {
	srv := newFakeServer(t)
	defer srv.Close()
	want := func(f bool) []fakeMessage {
		return []fakeMessage{
			{signaling.TypeLayersWanted, signaling.LayersWanted{TrackID: "T1", ClientTrackID: "v", Layers: []signaling.LayerState{
				{RID: "q", Active: true}, {RID: "h", Active: true}, {RID: "f", Active: f}}}},
			{signaling.TypeTrackPaused, signaling.TrackPaused{TrackID: "X", Paused: true, Reason: signaling.PauseBandwidth}},
			{signaling.TypeTrackLayer, signaling.TrackLayer{TrackID: "X", RID: "h", Layer: 1}},
			{signaling.TypeTrackLayers, signaling.TrackLayers{TrackID: "X", ParticipantID: "P", Layers: []signaling.Layer{
				{RID: "q", Width: 320, Height: 180, Bitrate: 150_000}, {RID: "h"}}}},
		}
	}
	srv.OnTrackSettings = func(s signaling.TrackSettings) (signaling.Code, []fakeMessage) {
		switch s.TrackID {
		case "off":
			return 0, want(false)
		case "on":
			return 0, want(true)
		}
		return signaling.CodeUnknownTrack, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dial(t, ctx, srv.URL, client.Options{})
	defer c.Close()
	var mu sync.Mutex
	var checkers []*client.Checker
	tracks := 0
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ch := client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
		mu.Lock()
		tracks++
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			checkers = append(checkers, ch)
		}
		mu.Unlock()
		_ = ch.Run(ctx, tr)
	})
	join(t, ctx, c)
	video, err := client.NewVP8SimulcastTrack("v", "s", client.SimulcastOptions{Source: client.SourceOptions{FPS: 50}})
	if err != nil {
		t.Fatal(err)
	}
	defer video.Close()
	audio, err := client.NewOpusTrack("a", "s", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer audio.Close()
	if err := c.PublishSimulcast(ctx, video, audio); err != nil {
		t.Fatal(err)
	}
	video.Start(ctx)
	audio.Start(ctx)

	// next returns the next event of one of the types asked for.
	next := func(types ...string) client.Event {
		t.Helper()
		for {
			select {
			case e := <-c.Events():
				for _, typ := range types {
					if e.Type == typ {
						return e
					}
				}
			case <-ctx.Done():
				t.Fatalf("no %v event", types)
			}
		}
	}
	var ce *signaling.CodedError
	if err := c.SetTrackSettings(ctx, signaling.TrackSettings{TrackID: "nope"}); !errors.As(err, &ce) || ce.Code != signaling.CodeUnknownTrack {
		t.Fatalf("unknown track: %v", err)
	}
	if err := c.SetTrackSettings(ctx, signaling.TrackSettings{TrackID: "off"}); err != nil {
		t.Fatal(err)
	}
	e := next(signaling.TypeLayersWanted)
	if lw, ok := e.Data.(*signaling.LayersWanted); !ok || len(lw.Layers) != 3 {
		t.Fatalf("layersWanted data %#v", e.Data)
	}
	f := video.Layer("f")
	if f.Active() || !video.Layer("q").Active() || !video.Layer("h").Active() {
		t.Fatal("layersWanted not applied before the event")
	}
	if tp, ok := next(signaling.TypeTrackPaused).Data.(*signaling.TrackPaused); !ok || !tp.Paused || tp.Reason != signaling.PauseBandwidth {
		t.Fatalf("trackPaused %#v", tp)
	}
	if tl, ok := next(signaling.TypeTrackLayer).Data.(*signaling.TrackLayer); !ok || tl.RID != "h" || tl.Layer != 1 {
		t.Fatalf("trackLayer %#v", tl)
	}
	if tl, ok := next(signaling.TypeTrackLayers).Data.(*signaling.TrackLayers); !ok || tl.TrackID != "X" || len(tl.Layers) != 2 ||
		tl.Layers[0] != (signaling.Layer{RID: "q", Width: 320, Height: 180, Bitrate: 150_000}) || tl.Layers[1] != (signaling.Layer{RID: "h"}) {
		t.Fatalf("trackLayers %#v", tl)
	}
	// While inactive, f's frame periods pass without packets.
	p0 := f.Source.Stats().Packets
	for f.Source.Stats().Skipped < 5 {
		select {
		case <-ctx.Done():
			t.Fatal("inactive layer skipped no frames")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if p := f.Source.Stats().Packets; p != p0 {
		t.Fatalf("inactive layer sent %d packets", p-p0)
	}
	k0 := f.Source.Stats().Keyframes
	if err := c.SetTrackSettings(ctx, signaling.TrackSettings{TrackID: "on"}); err != nil {
		t.Fatal(err)
	}
	next(signaling.TypeLayersWanted)
	if !f.Active() {
		t.Fatal("layer f not reactivated")
	}
	for f.Source.Stats().Keyframes == k0 {
		select {
		case <-ctx.Done():
			t.Fatal("reactivated layer sent no keyframe")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The fake server forwards each layer it received as a track of its
	// own: three video tracks, one layer each, all markers valid.
	layers := func() map[int]bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[int]bool{}
		if tracks < 4 { // the audio too: the fake server is done negotiating
			return seen
		}
		for _, ch := range checkers {
			if st := ch.Stats(); st.Packets > 10 && st.BadMarkers == 0 && st.LayerSwitches == 0 {
				seen[st.Layer] = true
			}
		}
		return seen
	}
	for l := layers(); !l[0] || !l[1] || !l[2]; l = layers() {
		select {
		case <-ctx.Done():
			t.Fatalf("layers forwarded back: %v", l)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
