package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/lethe-rtc/lethe/client"
)

// layerPacket is a one-packet VP8 frame of a simulcast layer.
func layerPacket(t *testing.T, layer int, seq uint16, key bool) *rtp.Packet {
	t.Helper()
	pl := make([]byte, 60)
	pl[0] = 0x10 // S bit, partition 0
	if !key {
		pl[1] = 0x01 // inter frame
	}
	if err := client.PutMarker(pl, client.Marker{StreamID: uint32(10 + layer), Seq: uint32(seq), Simulcast: true, Layer: layer}); err != nil {
		t.Fatal(err)
	}
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: pl}
}

// A class reports the layer its subscribers' video ended on, the time
// from join to the last switch, switches, and the window's loss.
func TestClassReport(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var now time.Time
	clock := func() time.Time { return now }
	mk := func(class int, switchAt int) *participant {
		ch := client.NewChecker(client.CheckerOptions{MimeType: "video/VP8", Now: clock})
		for i := range 60 {
			now = t0.Add(time.Duration(i) * 33 * time.Millisecond)
			layer, key := 2, i == 0
			if i >= switchAt {
				layer, key = 0, i == switchAt
			}
			ch.ObservePacket(layerPacket(t, layer, uint16(i), key), now)
		}
		return &participant{class: class, joinedAt: t0.Add(-time.Second), checkers: []*client.Checker{ch},
			video: []*client.Checker{ch}, videoIDs: []string{"TR_v"}, events: &eventCount{}}
	}
	paused := mk(0, 100) // on the top layer when the server paused it: on none
	paused.events.paused = map[string]bool{"TR_v": true}
	parts := []*participant{mk(0, 30), mk(0, 40), paused, mk(1, 100), {class: -1}}
	cr := classReport(300_000, 0, parts, &counts{packets: 10}, &counts{packets: 110, lost: 5})
	if cr.Subscribers != 3 || cr.VideoTracks != 3 || cr.Layer != 0 || cr.Paused != 1 || len(cr.LayerTracks) != 1 ||
		cr.Switches != 2 || cr.BadSwitches != 0 {
		t.Fatalf("class 0: %+v", cr)
	}
	if want := time.Second + 40*33*time.Millisecond; time.Duration(cr.SettleMax) != want {
		t.Fatalf("settle max %v, want %v", time.Duration(cr.SettleMax), want)
	}
	if cr.Packets != 100 || cr.Lost != 5 || cr.LossPercent < 4.7 || cr.LossPercent > 4.8 {
		t.Fatalf("loss %+v", cr)
	}
	cr = classReport(0, 1, parts, nil, nil)
	if cr.Layer != 2 || cr.Switches != 0 || time.Duration(cr.SettleMax) != time.Second {
		t.Fatalf("class 1: %+v", cr)
	}
	rep := &Report{Classes: []ClassReport{cr}}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "unlimited") || !strings.Contains(b.String(), "settleP50") {
		t.Fatalf("no class table:\n%s", b.String())
	}
}

func TestValidateClasses(t *testing.T) {
	c := Config{URL: "ws://127.0.0.1:1/v1/signal", Tokens: nilTokens{}, Classes: []int{300_000, -1}}
	c.setDefaults()
	if err := c.Validate(); err == nil {
		t.Fatal("negative class accepted")
	}
	c.Classes = make([]int, 17)
	if err := c.Validate(); err == nil {
		t.Fatal("17 classes accepted")
	}
}

type nilTokens struct{}

func (nilTokens) Token(context.Context, string) (uint32, string, error) { return 1, "", nil }
