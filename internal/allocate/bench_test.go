package allocate

import "testing"

// BenchmarkAllocate allocates a subscriber's budget in the steady state:
// the same tracks every call, each decision fed back as Current, the
// budget wobbling around a value that limits some cameras.
func BenchmarkAllocate(b *testing.B) {
	for _, bm := range []struct {
		name   string
		tracks []Track
	}{
		// 1 audio + 1 screen + 8 cameras of 3 layers.
		{"audio+screen+8cameras", subscriber(8)},
		// A 25-person room seen by one subscriber: a screen share, 24
		// cameras and 25 audio tracks.
		{"50tracks", room(24)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			tracks := bm.tracks
			out := make([]Decision, len(tracks))
			var a Allocator
			budgets := [...]int{4 * M, 4400 * k, 3600 * k, 4 * M}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.Allocate(budgets[i%len(budgets)], tracks, out)
				for j := range tracks {
					tracks[j].Current = out[j].Layer
				}
				i++
			}
		})
	}
}

// room returns a screen share, cameras three-layer cameras and an audio
// track per camera plus one.
func room(cameras int) []Track {
	tracks := []Track{{Kind: Screen, Layers: screen, MaxLayer: 2, Current: 2}}
	for i := range cameras {
		tracks = append(tracks, cam(i%3, i%4, 2), audioTrack())
	}
	return append(tracks, audioTrack())
}
