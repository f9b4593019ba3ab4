package sfu

import (
	"fmt"
	"testing"
	"time"
)

// layerEvents keeps the TrackLayers a participant hears.
type layerEvents struct {
	nullEvents
	told []TrackInfo
}

func (e *layerEvents) TrackLayers(ti TrackInfo) { e.told = append(e.told, ti) }

var _ LayerEvents = (*layerEvents)(nil)

func TestRoundRate(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{-5, 0}, {0, 0}, {1, 1000}, {499, 1000}, {1499, 1000}, {1500, 2000}, {150_321, 150_000}} {
		if got := roundRate(tc.in); got != tc.want {
			t.Errorf("roundRate(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestChangedLayer(t *testing.T) {
	l := func(w, h, rate int) Layer { return Layer{RID: "q", Width: w, Height: h, Bitrate: rate} }
	for _, tc := range []struct {
		was, cur Layer
		want     bool
	}{
		{l(0, 0, 0), l(0, 0, 0), false},
		{l(0, 0, 0), l(320, 180, 0), true},                 // size known
		{l(320, 180, 100_000), l(640, 360, 100_000), true}, // size changed
		{l(0, 0, 0), l(0, 0, 1000), true},                  // starts
		{l(0, 0, 1000), l(0, 0, 0), true},                  // stops
		{l(0, 0, 100_000), l(0, 0, 124_000), false},        // within a quarter
		{l(0, 0, 100_000), l(0, 0, 125_000), true},
		{l(0, 0, 100_000), l(0, 0, 76_000), false},
		{l(0, 0, 100_000), l(0, 0, 75_000), true},
	} {
		if got := changedLayer(tc.was, tc.cur); got != tc.want {
			t.Errorf("%+v -> %+v: %v, want %v", tc.was, tc.cur, got, tc.want)
		}
	}
}

// TestTickLayers follows one simulcast track's layers through the
// layers goroutine's ticks, on a clock of the test's.
func TestTickLayers(t *testing.T) {
	now := time.Unix(1000, 0)
	s := testSFU(Config{Now: func() time.Time { return now }})
	pub := testParticipant(s, "PA_pub", 1)
	pub.ev = &nullEvents{} // no LayerEvents: hears nothing, and that is fine
	sub := testParticipant(s, "PA_sub", 1)
	ev := &layerEvents{}
	sub.ev = ev
	u := simulcastUpTrack(pub, 8)
	audio := testUpTrack(pub, nil, 8) // one encoding: never told of
	audio.id = "TR_audio"
	r := newRoom(s, "room")
	r.participants = []*Participant{pub, sub}
	r.tracks[u.id], r.tracks[audio.id] = u, audio
	set := func(i, w, h, rate int) {
		l := u.layers[i]
		l.size.Store(int64(w)<<32 | int64(h))
		l.meter.rate.Store(int64(rate))
		l.last.Store(now.UnixNano())
	}
	layers := func(ti TrackInfo) string {
		out := ""
		for _, l := range ti.Layers {
			out += fmt.Sprintf("%s:%dx%d@%d ", l.RID, l.Width, l.Height, l.Bitrate)
		}
		return out
	}
	stopped := -1 // a layer that no longer sends
	tick := func(step time.Duration, want string) {
		t.Helper()
		n := len(ev.told)
		now = now.Add(step)
		for i := range u.layers {
			if u.layers[i].last.Load() != 0 && i != stopped {
				u.layers[i].last.Store(now.UnixNano()) // still sending
			}
		}
		r.tickLayers(now.UnixNano())
		got := ""
		if len(ev.told) > n {
			got = layers(ev.told[len(ev.told)-1])
			if len(ev.told) > n+1 {
				t.Errorf("%d events in one tick", len(ev.told)-n)
			}
		}
		if got != want {
			t.Errorf("at +%v: told %q, want %q", now.Sub(time.Unix(1000, 0)), got, want)
		}
	}
	tick(time.Second, "") // nothing measured: the rids alone, as published
	set(0, 320, 180, 150_321)
	tick(time.Second, "q:320x180@150000 h:0x0@0 f:0x0@0 ")
	set(1, 640, 360, 500_000)
	set(2, 1280, 720, 1_500_000)
	tick(time.Second, "")                                                      // within 2 s of the last
	tick(time.Second, "q:320x180@150000 h:640x360@500000 f:1280x720@1500000 ") // now
	set(2, 1280, 720, 1_300_000)                                               // -13 %: not worth telling
	tick(3*time.Second, "")
	set(2, 1280, 720, 1_100_000) // -27 % of what was told
	tick(time.Second, "q:320x180@150000 h:640x360@500000 f:1280x720@1100000 ")
	stopped = 1 // h stops: no packet for longer than layerLive
	tick(2*time.Second, "q:320x180@150000 h:640x360@0 f:1280x720@1100000 ")
	tick(3*time.Second, "")
	if len(ev.told) != 4 {
		t.Errorf("%d events, want 4", len(ev.told))
	}
}

// A simulcast layer that sends but whose size is not known gets a few
// keyframe requests from the layers goroutine, then no more; one whose
// size is known gets none.
func TestTickLayersAsksForSizes(t *testing.T) {
	now := time.Unix(1000, 0)
	s := testSFU(Config{Now: func() time.Time { return now }})
	pub := testParticipant(s, "PA_pub", 1)
	pub.ev = &nullEvents{}
	newPub(t, pub)
	u := simulcastUpTrack(pub, 8)
	r := newRoom(s, "room")
	r.participants = []*Participant{pub}
	r.tracks[u.id] = u
	u.layers[0].size.Store(320<<32 | 180)
	for range 2 * sizeAsks {
		now = now.Add(time.Second)
		for _, l := range u.layers[:2] {
			l.last.Store(now.UnixNano()) // q and h send; f does not
		}
		r.tickLayers(now.UnixNano())
	}
	if got := u.news.asks; got != [maxLayers]uint8{0, sizeAsks, 0} {
		t.Errorf("keyframe requests for sizes: %v", got)
	}
	if got := s.stats.keyframeRequests.Load(); got != sizeAsks {
		t.Errorf("%d keyframe requests, want %d", got, sizeAsks)
	}
}
