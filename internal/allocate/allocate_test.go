package allocate

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// Bitrates in bit/s used throughout.
const (
	k = 1000
	M = 1000 * k
)

var (
	opus   = []int{32 * k}
	camera = []int{150 * k, 500 * k, 1500 * k} // q, h, f
	screen = []int{300 * k, 1 * M, 2500 * k}
)

func audioTrack() Track { return Track{Kind: Audio, Layers: opus, MaxLayer: 0, Current: 0} }

func cam(maxLayer, priority, current int) Track {
	return Track{Kind: Camera, Layers: camera, MaxLayer: maxLayer, Priority: priority, Current: current}
}

// run allocates budget over tracks with a fresh Allocator, checks the
// invariants and returns the decisions.
func run(t *testing.T, budget int, tracks []Track) ([]Decision, Allocation) {
	t.Helper()
	out := make([]Decision, len(tracks))
	var a Allocator
	r := a.Allocate(budget, tracks, out)
	if err := check(budget, tracks, out, r); err != nil {
		t.Fatalf("budget %d, tracks %+v: %v", budget, tracks, err)
	}
	return out, r
}

// refCost is what layer l of t costs, computed apart from the code under
// test: the largest bitrate of layers 0..l, each within 0..MaxBitrate.
func refCost(t Track, l int) int {
	if l < 0 {
		return 0
	}
	c := 0
	for _, b := range t.Layers[:l+1] {
		c = max(c, min(max(b, 0), MaxBitrate))
	}
	return c
}

// check returns an error unless the decisions out for tracks at budget,
// summed up in r, keep every invariant Allocate promises.
func check(budget int, tracks []Track, out []Decision, r Allocation) error {
	used, wanted, audio, limited := 0, 0, 0, false
	for i, tr := range tracks {
		d := out[i]
		top := max(min(tr.MaxLayer, len(tr.Layers)-1), -1)
		switch {
		case d.Layer < -1 || d.Layer > top:
			return fmt.Errorf("track %d: layer %d outside -1..%d", i, d.Layer, top)
		case top < 0 && d != Decision{Layer: -1}:
			return fmt.Errorf("track %d wants nothing but got %+v", i, d)
		case d.Paused != (top >= 0 && d.Layer < 0):
			return fmt.Errorf("track %d: %+v: Paused must be exactly 'wanted and nothing sent'", i, d)
		case d.Limited != (d.Layer < top):
			return fmt.Errorf("track %d: %+v with top %d: Limited must be exactly 'below its MaxLayer'", i, d, top)
		case tr.Kind == Audio && top >= 0 && d.Layer < 0:
			return fmt.Errorf("audio track %d was cut", i)
		}
		used += refCost(tr, d.Layer)
		wanted += refCost(tr, top)
		if tr.Kind == Audio && top >= 0 {
			audio += refCost(tr, 0)
		}
		limited = limited || d.Limited
	}
	switch {
	case r.Used != used:
		return fmt.Errorf("Used %d, the decisions cost %d", r.Used, used)
	case r.Wanted != wanted:
		return fmt.Errorf("Wanted %d, the tracks' MaxLayers cost %d", r.Wanted, wanted)
	case used > max(budget, audio):
		return fmt.Errorf("Used %d above budget %d and audio %d", used, budget, audio)
	case limited != (r.Next > 0):
		return fmt.Errorf("Next %d, but a track is limited: %v", r.Next, limited)
	case limited && r.Next <= budget:
		return fmt.Errorf("Next %d not above budget %d", r.Next, budget)
	}
	return nil
}

func TestAllocate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		budget  int
		tracks  []Track
		want    []Decision
		used    int
		wantedR int
	}{
		{
			name: "audio is never cut, even with budget 0", budget: 0,
			tracks: []Track{cam(2, 0, 2), audioTrack(), {Kind: Audio, Layers: opus, MaxLayer: 0, Current: -1}},
			want:   []Decision{{Layer: -1, Paused: true, Limited: true}, {Layer: 0}, {Layer: 0}},
			used:   64 * k, wantedR: 1500*k + 64*k,
		},
		{
			name: "audio beyond the budget leaves the video paused", budget: 20 * k,
			tracks: []Track{audioTrack(), cam(0, 0, 0)},
			want:   []Decision{{Layer: 0}, {Layer: -1, Paused: true, Limited: true}},
			used:   32 * k, wantedR: 182 * k,
		},
		{
			name: "a negative budget counts as none", budget: -5 * M,
			tracks: []Track{audioTrack(), cam(2, 0, 0)},
			want:   []Decision{{Layer: 0}, {Layer: -1, Paused: true, Limited: true}},
			used:   32 * k, wantedR: 1532 * k,
		},
		{
			name: "screen before camera, whatever the slice order", budget: 400 * k,
			tracks: []Track{cam(0, 9, 0), {Kind: Screen, Layers: screen, MaxLayer: 0, Current: 0}},
			want:   []Decision{{Layer: -1, Paused: true, Limited: true}, {Layer: 0}},
			used:   300 * k, wantedR: 450 * k,
		},
		{
			name: "within a kind, higher priority first", budget: 160 * k,
			tracks: []Track{cam(0, 1, 0), cam(0, 5, 0), cam(0, 3, 0)},
			want:   []Decision{{Layer: -1, Paused: true, Limited: true}, {Layer: 0}, {Layer: -1, Paused: true, Limited: true}},
			used:   150 * k, wantedR: 450 * k,
		},
		{
			name: "ties keep slice order", budget: 160 * k,
			tracks: []Track{cam(0, 2, 0), cam(0, 2, 0)},
			want:   []Decision{{Layer: 0}, {Layer: -1, Paused: true, Limited: true}},
			used:   150 * k, wantedR: 300 * k,
		},
		{
			name: "a smaller track after a paused one is still sent", budget: 200 * k,
			tracks: []Track{{Kind: Screen, Layers: screen, MaxLayer: 2, Current: 0}, cam(2, 0, 0)},
			want:   []Decision{{Layer: -1, Paused: true, Limited: true}, {Layer: 0, Limited: true}},
			used:   150 * k, wantedR: 4 * M,
		},
		{
			name: "MaxLayer -1 gets nothing and is not paused", budget: 10 * M,
			tracks: []Track{cam(-1, 0, 2), {Kind: Audio, Layers: opus, MaxLayer: -1}, cam(1, 0, 1)},
			want:   []Decision{{Layer: -1}, {Layer: -1}, {Layer: 1}},
			used:   500 * k, wantedR: 500 * k,
		},
		{
			name: "MaxLayer caps a fast link; beyond the layers means the top", budget: 100 * M,
			tracks: []Track{cam(0, 0, 0), cam(1, 0, 1), cam(7, 0, 2)},
			want:   []Decision{{Layer: 0}, {Layer: 1}, {Layer: 2}},
			used:   2150 * k, wantedR: 2150 * k,
		},
		{
			name: "a track with no layers gets nothing", budget: M,
			tracks: []Track{{Kind: Camera, MaxLayer: 2}, {Kind: Audio, MaxLayer: 0}},
			want:   []Decision{{Layer: -1}, {Layer: -1}},
		},
		{
			name: "cameras climb in rounds: all to the middle before any to the top", budget: 1000 * k,
			tracks: []Track{cam(2, 0, 2), cam(2, 0, 2)},
			want:   []Decision{{Layer: 1, Limited: true}, {Layer: 1, Limited: true}},
			used:   1000 * k, wantedR: 3 * M,
		},
		{
			name: "the round's first step goes to the higher priority", budget: 2000 * k,
			tracks: []Track{cam(2, 0, 2), cam(2, 1, 2)},
			want:   []Decision{{Layer: 1, Limited: true}, {Layer: 2}},
			used:   2000 * k, wantedR: 3 * M,
		},
		{
			name: "a screen share climbs to its top before any camera leaves its lowest", budget: 2800 * k,
			tracks: []Track{cam(2, 5, 2), {Kind: Screen, Layers: screen, MaxLayer: 2, Current: 2}},
			want:   []Decision{{Layer: 0, Limited: true}, {Layer: 2}},
			used:   2650 * k, wantedR: 4 * M,
		},
		{
			name: "going up needs headroom", budget: 540 * k, // 500 k × 1.15 = 575 k
			tracks: []Track{cam(2, 0, 0)},
			want:   []Decision{{Layer: 0, Limited: true}},
			used:   150 * k, wantedR: 1500 * k,
		},
		{
			name: "keeping a layer needs only a plain fit", budget: 510 * k,
			tracks: []Track{cam(2, 0, 1)},
			want:   []Decision{{Layer: 1, Limited: true}},
			used:   500 * k, wantedR: 1500 * k,
		},
		{
			name: "going down as soon as it no longer fits", budget: 490 * k,
			tracks: []Track{cam(2, 0, 2)},
			want:   []Decision{{Layer: 0, Limited: true}},
			used:   150 * k, wantedR: 1500 * k,
		},
		{
			name: "a preference lowered below the layer sent goes down at once", budget: 10 * M,
			tracks: []Track{cam(0, 0, 2)},
			want:   []Decision{{Layer: 0}},
			used:   150 * k, wantedR: 150 * k,
		},
		{
			name: "a paused track does not resume without headroom", budget: 170 * k, // 150 k × 1.15 = 172.5 k
			tracks:  []Track{cam(2, 0, -1)},
			want:    []Decision{{Layer: -1, Paused: true, Limited: true}},
			wantedR: 1500 * k,
		},
		{
			name: "a paused track resumes with headroom", budget: 173 * k,
			tracks: []Track{cam(2, 0, -1)},
			want:   []Decision{{Layer: 0, Limited: true}},
			used:   150 * k, wantedR: 1500 * k,
		},
		{
			name: "a sent track keeps its lowest layer on a plain fit", budget: 150 * k,
			tracks: []Track{cam(2, 0, 0)},
			want:   []Decision{{Layer: 0, Limited: true}},
			used:   150 * k, wantedR: 1500 * k,
		},
		{
			name: "unknown and negative bitrates cost 0; a cheaper layer above costs as the one below", budget: 400 * k,
			tracks: []Track{{Kind: Camera, Layers: []int{0, 300 * k, 100 * k}, MaxLayer: 2, Current: 2}, {Kind: Camera, Layers: []int{-5}, MaxLayer: 0, Current: 0}},
			want:   []Decision{{Layer: 2}, {Layer: 0}},
			used:   300 * k, wantedR: 300 * k,
		},
		{
			name: "unknown kinds count as cameras", budget: 200 * k,
			tracks: []Track{{Kind: 9, Layers: camera, MaxLayer: 0, Priority: 9, Current: 0}, {Kind: Screen, Layers: []int{100 * k}, MaxLayer: 0, Current: 0}},
			want:   []Decision{{Layer: -1, Paused: true, Limited: true}, {Layer: 0}},
			used:   100 * k, wantedR: 250 * k,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := clone(tt.tracks)
			out, r := run(t, tt.budget, tt.tracks)
			if !slices.Equal(out, tt.want) {
				t.Errorf("decisions %+v, want %+v", out, tt.want)
			}
			if r.Used != tt.used || r.Wanted != tt.wantedR {
				t.Errorf("used %d, wanted %d; want %d, %d", r.Used, r.Wanted, tt.used, tt.wantedR)
			}
			if !equalTracks(tt.tracks, before) {
				t.Errorf("Allocate changed its tracks: %+v, were %+v", tt.tracks, before)
			}
			// The function without an Allocator decides the same.
			out2 := make([]Decision, len(tt.tracks))
			if r2 := Allocate(tt.budget, tt.tracks, out2); r2 != r || !slices.Equal(out2, out) {
				t.Errorf("Allocate gave %+v %+v, Allocator %+v %+v", r2, out2, r, out)
			}
		})
	}
}

func clone(tracks []Track) []Track {
	c := slices.Clone(tracks)
	for i := range c {
		c[i].Layers = slices.Clone(c[i].Layers)
	}
	return c
}

func equalTracks(a, b []Track) bool {
	return slices.EqualFunc(a, b, func(x, y Track) bool {
		return x.Kind == y.Kind && x.MaxLayer == y.MaxLayer && x.Priority == y.Priority &&
			x.Current == y.Current && slices.Equal(x.Layers, y.Layers)
	})
}

// TestNext: Next is the cheapest step that did not fit, on top of what is
// used, and a budget of Next changes the allocation.
func TestNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		budget int
		tracks []Track
		next   int
	}{
		{"nothing limited", 10 * M, []Track{audioTrack(), cam(2, 0, 2)}, 0},
		{"the next layer with headroom", 200 * k, []Track{cam(2, 0, 0)}, 575 * k},
		{"the next layer without headroom when it is the one sent", 200 * k, []Track{cam(2, 0, 1)}, 500 * k},
		{"resume with headroom", 100 * k, []Track{cam(2, 0, -1)}, 172500},
		{"the cheapest of two steps", 700 * k, []Track{cam(2, 0, 1), cam(2, 0, 1)}, 650*k + 350*k},
		{"beside audio", 100 * k, []Track{audioTrack(), cam(2, 0, 0)}, 32*k + 150*k},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, r := run(t, tt.budget, tt.tracks)
			if r.Next != tt.next {
				t.Fatalf("Next %d, want %d (decisions %+v)", r.Next, tt.next, out)
			}
			if r.Next == 0 {
				return
			}
			more, _ := run(t, r.Next, tt.tracks)
			if slices.Equal(more, out) {
				t.Errorf("at budget Next = %d the decisions stay %+v", r.Next, out)
			}
			less, _ := run(t, r.Next-1, tt.tracks)
			if !slices.Equal(less, out) {
				t.Errorf("already at Next-1 = %d the decisions change: %+v, were %+v", r.Next-1, less, out)
			}
		})
	}
}

// TestHysteresis: a budget wobbling ±10% around any layer's bitrate, with
// each decision fed back as Current, changes a track's layer at most once
// and never takes it back up — when no other layer's bitrate lies within
// the wobble too (real layers are two to four times apart).
func TestHysteresis(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	ran, settled := 0, 0
	for range 2000 {
		tr := randomTrack(rng)
		tr.Kind = Camera
		tr.MaxLayer = len(tr.Layers) - 1
		if len(tr.Layers) == 0 {
			continue
		}
		threshold := refCost(tr, rng.IntN(len(tr.Layers)))
		if threshold == 0 || slices.ContainsFunc(tr.Layers, func(b int) bool {
			return b != threshold && b > threshold*85/100 && b < threshold*120/100
		}) {
			continue
		}
		tr.Current = rng.IntN(len(tr.Layers)+1) - 1
		tracks := []Track{tr}
		out := make([]Decision, 1)
		var a Allocator
		changes, last := 0, tr.Current
		var seen []int
		for i := range 40 {
			f := 1.1
			if i%2 == 1 {
				f = 0.9
			}
			if rng.IntN(4) == 0 {
				f = 0.9 + 0.2*rng.Float64()
			}
			budget := int(float64(threshold) * f)
			a.Allocate(budget, tracks, out)
			if i > 0 && out[0].Layer != last {
				changes++
				if out[0].Layer > last {
					t.Fatalf("layers %v, bitrates %v around %d: went up from %d to %d", seen, tr.Layers, threshold, last, out[0].Layer)
				}
			}
			last = out[0].Layer
			tracks[0].Current = last
			seen = append(seen, last)
		}
		if changes > 1 {
			t.Fatalf("bitrates %v, budget around %d: layers %v changed %d times", tr.Layers, threshold, seen, changes)
		}
		ran++
		settled += changes
	}
	if ran < 500 || settled < 100 {
		t.Fatalf("only %d wobbles ran, %d of them changed a layer: the test lost its cases", ran, settled)
	}
}

// TestProperties runs random subscribers through the invariants, and
// checks that a repeated call, and a call without the Allocator, decide
// the same.
func TestProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var a Allocator
	for range 5000 {
		tracks := make([]Track, rng.IntN(12))
		for i := range tracks {
			tracks[i] = randomTrack(rng)
		}
		budget := rng.IntN(8*M) - M/2
		out := make([]Decision, len(tracks))
		r := a.Allocate(budget, tracks, out)
		if err := check(budget, tracks, out, r); err != nil {
			t.Fatalf("budget %d, tracks %+v: %v\n%+v", budget, tracks, err, out)
		}
		out2 := make([]Decision, len(tracks))
		if r2 := a.Allocate(budget, tracks, out2); r2 != r || !slices.Equal(out, out2) {
			t.Fatalf("second call: %+v %+v, first %+v %+v", r2, out2, r, out)
		}
		// The Allocator reuses the last call's order, with other tracks
		// of the same count as often as not; a fresh start decides the same.
		if r3 := Allocate(budget, tracks, out2); r3 != r || !slices.Equal(out, out2) {
			t.Fatalf("tracks %+v: without the Allocator's order: %+v %+v, with %+v %+v", tracks, r3, out2, r, out)
		}
		rankOrder(t, tracks, out)
	}
}

// rankOrder fails t if a track is Paused while a track ranked below it
// whose lowest layer costs as much or more was sent: the smaller track may
// take the place the larger could not, never the other way.
func rankOrder(t *testing.T, tracks []Track, out []Decision) {
	t.Helper()
	for i, hi := range tracks {
		if !out[i].Paused {
			continue
		}
		for j, lo := range tracks {
			if !out[j].Paused && out[j].Layer >= 0 && lo.Kind != Audio && ranksBelow(tracks, j, i) &&
				refCost(lo, 0) >= refCost(hi, 0)*(100+Headroom)/100 {
				t.Fatalf("track %d (%+v) paused while %d (%+v), ranked below and no cheaper, is sent: %+v", i, hi, j, lo, out)
			}
		}
	}
}

// ranksBelow reports whether tracks[j] ranks below tracks[i].
func ranksBelow(tracks []Track, j, i int) bool {
	a, b := tracks[j], tracks[i]
	if a.Kind.rank() != b.Kind.rank() {
		return a.Kind.rank() > b.Kind.rank()
	}
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	return j > i
}

// randomTrack returns a track of 0 to 4 layers of rising, sometimes
// unknown, bitrates, with random preference, priority and current layer.
func randomTrack(rng *rand.Rand) Track {
	tr := Track{
		Kind:     Kind(rng.IntN(4)),
		Priority: rng.IntN(3),
		MaxLayer: rng.IntN(5) - 1,
	}
	n := rng.IntN(5)
	if tr.Kind == Audio {
		n = rng.IntN(2) + rng.IntN(2)
	}
	b := 0
	for range n {
		b += rng.IntN(1500 * k)
		if rng.IntN(10) == 0 {
			tr.Layers = append(tr.Layers, 0)
			continue
		}
		tr.Layers = append(tr.Layers, b)
	}
	tr.Current = rng.IntN(n+2) - 1
	return tr
}

// TestSteadyStateAllocatesNothing: once its scratch space has grown, an
// Allocator allocates nothing, and neither does Allocate for 64 tracks.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	tracks := subscriber(8)
	out := make([]Decision, len(tracks))
	var a Allocator
	if n := testing.AllocsPerRun(100, func() { a.Allocate(4*M, tracks, out) }); n != 0 {
		t.Errorf("Allocator.Allocate: %v allocations per call", n)
	}
	tracks = subscriber(62)
	out = make([]Decision, len(tracks))
	if n := testing.AllocsPerRun(100, func() { Allocate(4*M, tracks, out) }); n != 0 {
		t.Errorf("Allocate of %d tracks: %v allocations per call", len(tracks), n)
	}
}

// subscriber returns one audio track, one screen share and cameras
// three-layer cameras, each sending its top layer now.
func subscriber(cameras int) []Track {
	tracks := []Track{audioTrack(), {Kind: Screen, Layers: screen, MaxLayer: 2, Current: 2}}
	for i := range cameras {
		tracks = append(tracks, cam(2, i%3, 2))
	}
	return tracks
}

// FuzzAllocate: any tracks and budget, decoded from bytes, keep every
// invariant, and a budget of Next changes the decisions.
func FuzzAllocate(f *testing.F) {
	f.Add(int64(0), []byte{})
	f.Add(int64(300_000), []byte{2, 1, 0, 0, 0, 0, 32, 0, 3, 2, 2, 0, 0, 0, 150, 1, 244, 5, 220})
	f.Add(int64(-1), []byte{0, 4, 0x7f, 0x80, 0xff, 0x7f, 0xff, 0x80, 0, 0, 0, 0, 1})
	f.Add(int64(1)<<62, []byte{1, 3, 9, 9, 9, 0xff, 0xff, 0x7f, 0xff, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, budget int64, data []byte) {
		tracks := decodeTracks(data)
		out := make([]Decision, len(tracks))
		for i := range out {
			out[i] = Decision{Layer: 7, Paused: true} // stale values must be overwritten
		}
		r := Allocate(int(budget), tracks, out)
		if err := check(int(budget), tracks, out, r); err != nil {
			t.Fatalf("budget %d, tracks %+v: %v\n%+v", budget, tracks, err, out)
		}
		if r.Next > 0 {
			more := make([]Decision, len(tracks))
			Allocate(r.Next, tracks, more)
			if slices.Equal(more, out) {
				t.Fatalf("budget %d, tracks %+v: at Next %d the decisions stay %+v", budget, tracks, r.Next, out)
			}
		}
	})
}

// decodeTracks reads tracks from data: per track a kind byte, a layer
// count byte (mod 5), signed MaxLayer, Current and Priority bytes, then
// per layer a signed 16-bit bitrate in kbit/s, where 0x7fff stands for the
// largest int.
func decodeTracks(data []byte) []Track {
	var tracks []Track
	for len(data) >= 5 && len(tracks) < 100 {
		tr := Track{
			Kind:     Kind(data[0]),
			MaxLayer: int(int8(data[2])),
			Current:  int(int8(data[3])),
			Priority: int(int8(data[4])),
		}
		n := int(data[1]) % 5
		data = data[5:]
		for ; n > 0 && len(data) >= 2; n-- {
			v := int(int16(binary.BigEndian.Uint16(data)))
			if v == 0x7fff {
				tr.Layers = append(tr.Layers, int(^uint(0)>>1))
			} else {
				tr.Layers = append(tr.Layers, v*k)
			}
			data = data[2:]
		}
		tracks = append(tracks, tr)
	}
	return tracks
}
