package allocate

import (
	"cmp"
	"slices"
	"strconv"
)

// Kind is what a track carries; it ranks the track's claim on the budget:
// Audio, then Screen, then Camera.
type Kind uint8

// The kinds. The zero value is Camera, the weakest claim, so that a track
// whose kind was never set cannot take the place of audio; values above
// Audio also count as Camera.
const (
	// Camera is video from a camera, or any video that is not a screen
	// share.
	Camera Kind = iota
	// Screen is a screen share.
	Screen
	// Audio is never cut.
	Audio
)

// String names the kind, for logs and test messages.
func (k Kind) String() string {
	switch k {
	case Camera:
		return "camera"
	case Screen:
		return "screen"
	case Audio:
		return "audio"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// rank orders kinds, lowest first: audio 0, screen 1, camera (and any
// unknown kind) 2.
func (k Kind) rank() int {
	switch k {
	case Audio:
		return 0
	case Screen:
		return 1
	}
	return 2
}

// Headroom is how much more than a layer's bitrate, in percent of it, the
// budget must hold for a track to go up to that layer or to resume from
// nothing; keeping a layer, or going down to one, needs a plain fit. A
// budget that wobbles ±10% around a layer's bitrate therefore takes the
// track down once and never back up while it wobbles. A wobble of ±w
// anywhere cannot flip a layer while (1+w)/(1-w) < 1+Headroom/100, that
// is w < 6.9%; a ±10% wobble centred 4.5% or more above a layer's bitrate
// can still flip it once per swing.
const Headroom = 15

// MaxBitrate is the largest bitrate a layer is taken to cost (1 Tbit/s
// and a little); larger values, as bad input might give, count as this,
// so that sums never overflow.
const MaxBitrate = 1 << 40

// Track is one track a subscriber receives, as the allocator sees it.
type Track struct {
	// Kind ranks the track: audio, then screen, then camera.
	Kind Kind
	// Layers are the bitrates of the track's layers in bit/s, lowest
	// first; one layer for a track of one encoding (all audio,
	// non-simulcast video). A bitrate may be 0 when unknown (the caller
	// fills in nominal values then). A layer costs at least as much as
	// any below it: a smaller bitrate above a larger one counts as the
	// larger. Negative bitrates count as 0.
	Layers []int
	// MaxLayer is the highest layer the subscriber's preferences allow;
	// above len(Layers)-1 it means the top layer. A negative MaxLayer is a
	// track the subscriber paused: it gets nothing, and is not Paused for
	// bandwidth.
	MaxLayer int
	// Priority orders the tracks within a kind: higher first; ties keep
	// slice order.
	Priority int
	// Current is the layer being sent now, -1 for none (paused or not
	// started); the hysteresis works from it. Feed each Decision's Layer
	// back here once it is applied.
	Current int
}

// top returns the highest layer the track may get, -1 when it wants
// nothing.
func (t *Track) top() int {
	return min(t.MaxLayer, len(t.Layers)-1)
}

// cost returns what layer l costs in bit/s: the largest clamped bitrate
// of layers 0..l, so that costs never fall as layers go up.
func (t *Track) cost(l int) int {
	c := 0
	for _, b := range t.Layers[:l+1] {
		c = max(c, min(b, MaxBitrate))
	}
	return c
}

// need returns what the budget must hold for the track to be sent layer
// l: its cost, plus Headroom when l is above the layer sent now.
func (t *Track) need(l int) int {
	c := t.cost(l)
	if l > t.Current {
		c += c * Headroom / 100
	}
	return c
}

// Decision is what Allocate chose for one track.
type Decision struct {
	// Layer is the layer to send, -1 for none.
	Layer int
	// Paused is true when the subscriber wants the track but not even its
	// lowest layer fits beside what ranks above it; the SFU tells the
	// subscriber (trackPaused, reason "bandwidth"). Audio is never
	// Paused.
	Paused bool
	// Limited is true when the budget, not the subscriber's preference,
	// keeps the track below its MaxLayer (a Paused track is Limited too).
	Limited bool
}

// Allocation sums up one call of Allocate.
type Allocation struct {
	// Used is the bitrate of the chosen layers, in bit/s. It is at most
	// the budget, unless the audio alone exceeds it.
	Used int
	// Wanted is the bitrate the tracks would need to all reach their
	// MaxLayer, in bit/s.
	Wanted int
	// Next is the budget at which some track would get more than now (a
	// paused track its lowest layer, or a limited one its next layer,
	// headroom included), estimated from the cheapest such step; 0 when
	// no track is Limited. It is always above the budget: what a Prober
	// should find out whether the link can carry.
	Next int
}

// Allocator allocates many times without allocating memory: it keeps the
// scratch space it needs between calls, and the rank order of the last
// call, which sorts again in linear time while the tracks stay the same.
// The zero value is ready to use; it is not safe for concurrent use (give
// each subscriber its own).
type Allocator struct {
	order []int // a permutation of the indices of the last call's tracks
}

// Allocate spreads budget (bit/s) over tracks into out: out[i] is the
// decision for tracks[i]. out must be as long as tracks; when it is not,
// only the first min(len(tracks), len(out)) tracks are decided and
// counted. tracks is not modified. The rules are in the package comment.
func (a *Allocator) Allocate(budget int, tracks []Track, out []Decision) Allocation {
	if n := min(len(tracks), len(out)); len(a.order) != n {
		a.order = identity(a.order[:0], n)
	}
	return allocate(budget, tracks, out, a.order)
}

// Allocate is Allocator.Allocate for a caller that keeps no Allocator. It
// allocates no memory for up to 64 tracks.
func Allocate(budget int, tracks []Track, out []Decision) Allocation {
	var buf [64]int
	return allocate(budget, tracks, out, identity(buf[:0], min(len(tracks), len(out))))
}

// identity appends 0..n-1 to order.
func identity(order []int, n int) []int {
	for i := range n {
		order = append(order, i)
	}
	return order
}

// allocate does the work of Allocate; order is a permutation of the
// indices of tracks[:min(len(tracks), len(out))], which it sorts in rank
// order.
func allocate(budget int, tracks []Track, out []Decision, order []int) Allocation {
	n := len(order)
	tracks, out = tracks[:n], out[:n]
	// A total order (ties broken by index, as a stable sort of the
	// indices would), so that any permutation sorts to the same; and
	// the sort takes linear time on the last call's order.
	slices.SortFunc(order, func(x, y int) int {
		if c := cmp.Compare(tracks[x].Kind.rank(), tracks[y].Kind.rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(tracks[y].Priority, tracks[x].Priority); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})

	var r Allocation
	remaining := max(budget, 0)
	step := 0 // the cheapest step that did not fit, 0 for none
	missed := func(extra int) {
		if step == 0 || extra < step {
			step = extra
		}
	}

	// Every track's lowest layer, in rank order.
	for _, i := range order {
		t, d := &tracks[i], &out[i]
		*d = Decision{Layer: -1}
		top := t.top()
		if top < 0 {
			continue
		}
		r.Wanted += t.cost(top)
		if need := t.need(0); t.Kind == Audio || need <= remaining {
			d.Layer = 0
			c := t.cost(0)
			remaining -= c
			r.Used += c
		} else {
			d.Paused, d.Limited = true, true
			missed(max(need, 1))
		}
	}

	// Then the climb, kind by kind, a layer per track and round. A track
	// that misses a step is Limited and stops: what remains only shrinks.
	for s := 0; s < n; {
		e, rank := s+1, tracks[order[s]].Kind.rank()
		for e < n && tracks[order[e]].Kind.rank() == rank {
			e++
		}
		for climbed := true; climbed; {
			climbed = false
			for _, i := range order[s:e] {
				t, d := &tracks[i], &out[i]
				if d.Layer < 0 || d.Limited || d.Layer >= t.top() {
					continue
				}
				own := t.cost(d.Layer)
				if extra := t.need(d.Layer+1) - own; extra > remaining {
					d.Limited = true
					missed(max(extra, 1))
					continue
				}
				d.Layer++
				c := t.cost(d.Layer) - own
				remaining -= c
				r.Used += c
				climbed = true
			}
		}
		s = e
	}
	if step > 0 {
		r.Next = r.Used + step
	}
	return r
}
