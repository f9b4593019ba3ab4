package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// A Go client that publishes simulcast restarts its publisher's ICE three
// times, the network being fine: each restart offer is answered, and the
// receiver goes on decoding the same track (one SSRC, sequence numbers
// without a jump), from one layer's packets, its markers valid. Pion's
// re-offers used to name the layers twice (as rids to receive too), which
// the server refuses, and its retransmissions named their layer as media,
// which made the server read a layer's RTX flow for the layer.
func TestClientSimulcastICERestart(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := uint32(time.Now().UnixNano()%1_000_000 + 1)
	sub, err := s.tryJoin(t, joinOpts{user: "sub", room: room})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.tryJoin(t, joinOpts{user: "pub", room: room})
	if err != nil {
		t.Fatal(err)
	}
	video, err := client.NewVP8SimulcastTrack("video-pub", "stream-pub", client.SimulcastOptions{
		Source: client.SourceOptions{KeyframeInterval: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := client.NewOpusTrack("audio-pub", "stream-pub", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishSimulcast(ctxT(t, 10*time.Second), video, audio); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, time.Minute)
	video.Start(ctx)
	audio.Start(ctx)
	t.Cleanup(func() {
		_ = video.Close()
		_ = audio.Close()
	})
	var v, a *rtpLog
	for v == nil || a == nil {
		select {
		case tr := <-sub.tracks:
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				v = logTrack(t, tr)
			} else {
				a = logTrack(t, tr)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the receiver got no tracks")
		}
	}
	v.waitCount(t, "video", 60, 10*time.Second)
	for i := range 3 {
		nV, nA := v.count(), a.count()
		if err := pub.RestartICE(ctxT(t, 10*time.Second), signaling.TargetPublisher); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		a.waitCount(t, fmt.Sprint("audio after restart ", i+1), nA+60, 10*time.Second)
		v.waitCount(t, fmt.Sprint("video after restart ", i+1), nV+60, 10*time.Second)
	}
	if err := pub.Err(); err != nil {
		t.Errorf("the publisher's session ended: %v", err)
	}
	select {
	case tr := <-sub.tracks:
		t.Errorf("the receiver got a new %s track", tr.Kind())
	default:
	}
	checkOneStream(t, v)
	t.Logf("audio: %d of the publisher's packets missing", a.continuous(t, "audio"))
}

// checkOneStream holds a simulcast track as its receiver saw it to one
// stream: one SSRC and payload type, sequence numbers that run on (a lost
// packet aside), every packet marked by a layer of the track.
func checkOneStream(t *testing.T, l *rtpLog) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pkts) == 0 {
		t.Fatal("no video")
	}
	first := l.pkts[0]
	high := first.seq
	for i, p := range l.pkts {
		if p.ssrc != first.ssrc || p.pt != first.pt {
			t.Fatalf("packet %d: SSRC or payload type changed (%#x/%d -> %#x/%d)", i, first.ssrc, first.pt, p.ssrc, p.pt)
		}
		if !p.marked {
			t.Fatalf("packet %d (seq %d) carries no valid marker", i, p.seq)
		}
		// Retransmissions come late, after higher numbers: only a jump
		// forward beyond the highest yet is a break.
		if d := int16(p.seq - high); d > 100 {
			t.Fatalf("packet %d: sequence number %d after %d", i, p.seq, high)
		} else if d > 0 {
			high = p.seq
		}
	}
}
