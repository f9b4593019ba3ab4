package allocate

import (
	"math"
	"testing"
	"time"
)

// link is a toy downlink and send-side estimator, in simulated time: a
// bottleneck of capacity bit/s that loses what is offered above it, and an
// estimate that, as Pion's gcc does, grows 8%/s while nothing is lost —
// capped at 1.5 × the acknowledged rate only while that rate is above two
// thirds of it — and falls to 0.85 × the acknowledged rate on loss. The
// SFU's budget caps the estimate at 1.5 × the acknowledged rate + 10
// kbit/s, as libwebrtc does, so that only probing lets it climb.
type link struct {
	capacity int
	estimate float64
	acked    int
}

// carry offers offered bit/s to the link for dt and returns the fraction
// lost.
func (l *link) carry(offered int, dt time.Duration) float64 {
	l.acked = min(offered, l.capacity)
	if offered > l.capacity {
		l.estimate = 0.85 * float64(l.acked)
		return 1 - float64(l.capacity)/float64(offered)
	}
	grown := l.estimate * math.Pow(1.08, dt.Seconds())
	if capped := 1.5 * float64(l.acked); capped > l.estimate {
		grown = min(grown, capped)
	}
	l.estimate = grown
	return 0
}

// budget is what the SFU allocates: the estimate, within 1.5 × what the
// link was seen to carry.
func (l *link) budget() int {
	return int(min(l.estimate, 1.5*float64(l.acked)+10*k))
}

// TestClosedLoop runs the allocator and the prober together against the
// toy link, as the SFU runs them for one subscriber of an audio track and
// a three-layer camera, every 100 ms of simulated time: the link is fast,
// then 300 kbit/s, fast again, then too slow for any video, then fast.
// Audio is sent throughout; the camera settles on the lowest layer and
// stays there while the link is slow, is paused while not even that fits,
// and climbs back to the top through probes when the link recovers. Loss
// happens only when the link falls under the media, and in probe
// clusters, once per cluster at most.
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	const dt = 100 * time.Millisecond
	phases := []struct {
		name     string
		until    time.Duration // end of the phase, from the start
		capacity int
		settle   time.Duration // by when, into the phase, the camera is at layer
		layer    int
	}{
		{"fast", 20 * time.Second, 5 * M, 10 * time.Second, 2},
		{"300 kbit/s", 90 * time.Second, 300 * k, 5 * time.Second, 0},
		{"fast again", 150 * time.Second, 5 * M, 45 * time.Second, 2},
		{"too slow for video", 210 * time.Second, 100 * k, 5 * time.Second, -1},
		{"fast at last", 270 * time.Second, 5 * M, 45 * time.Second, 2},
	}
	tracks := []Track{
		{Kind: Audio, Layers: opus, MaxLayer: 0, Current: -1},
		{Kind: Camera, Layers: camera, MaxLayer: 2, Current: -1},
	}
	out := make([]Decision, len(tracks))
	var a Allocator
	var p Prober
	l := link{capacity: 5 * M, estimate: 1 * M}
	start := t0
	now := t0
	lossy, clusters, wasProbing := 0, 0, false
	for _, ph := range phases {
		l.capacity = ph.capacity
		phaseStart := now
		settled := time.Duration(-1)
		for ; now.Sub(start) < ph.until; now = now.Add(dt) {
			budget := l.budget()
			r := a.Allocate(budget, tracks, out)
			if err := check(budget, tracks, out, r); err != nil {
				t.Fatalf("%s, %v: %v", ph.name, now.Sub(start), err)
			}
			for i := range tracks {
				tracks[i].Current = out[i].Layer
			}
			probe := p.Next(now, budget, r.Used, r.Next)
			if probe > 0 && r.Next == 0 {
				t.Fatalf("%s, %v: probe %d with nothing limited", ph.name, now.Sub(start), probe)
			}
			if p.Probing() && !wasProbing {
				clusters++
			}
			wasProbing = p.Probing()
			if loss := l.carry(r.Used+probe, dt); loss > 0 {
				if probe == 0 && now.Sub(phaseStart) > time.Second {
					t.Fatalf("%s, %v: loss %.2f without a probe (media %d, capacity %d)", ph.name, now.Sub(start), loss, r.Used, l.capacity)
				}
				if probe > 0 {
					lossy++
				}
				p.Lost(now, loss)
			}
			if out[0].Layer != 0 {
				t.Fatalf("%s, %v: audio cut: %+v", ph.name, now.Sub(start), out)
			}
			in := now.Sub(phaseStart)
			switch cam := out[1]; {
			case settled < 0 && cam.Layer == ph.layer:
				settled = in
			case settled >= 0 && cam.Layer != ph.layer:
				t.Fatalf("%s: settled on layer %d after %v, then layer %d at %v", ph.name, ph.layer, settled, cam.Layer, in)
			}
			if cam := out[1]; cam.Paused != (cam.Layer < 0) {
				t.Fatalf("%s, %v: camera %+v", ph.name, in, cam)
			}
		}
		if settled < 0 || settled > ph.settle {
			t.Errorf("%s: the camera reached layer %d after %v, want within %v", ph.name, ph.layer, settled, ph.settle)
		}
		t.Logf("%s: layer %d after %v", ph.name, ph.layer, settled)
	}
	if lossy > clusters {
		t.Errorf("%d lossy steps in %d probe clusters: a probe went on after loss", lossy, clusters)
	}
	t.Logf("%d probe clusters, %d of them lossy", clusters, lossy)
}
