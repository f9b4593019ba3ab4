package client

import (
	"math/bits"
	"time"
)

// latencyHist is a fixed log-linear histogram of microseconds: exact below
// 16 µs, then 16 buckets per power of two (about 6% wide), up to 2^36 µs.
// Recording never allocates.
type latencyHist struct {
	counts [histBuckets]uint64
	total  uint64
	max    time.Duration
}

const (
	histSub     = 16
	histMaxExp  = 32
	histBuckets = histSub * (histMaxExp + 1)
)

func histIndex(us uint64) int {
	if us < histSub {
		return int(us)
	}
	e := bits.Len64(us) - 5 // us>>e is in [16, 31]
	if e >= histMaxExp {
		return histBuckets - 1
	}
	return histSub*(e+1) + int(us>>uint(e)) - histSub
}

// histValue returns the middle of bucket i in microseconds.
func histValue(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := uint(i/histSub - 1)
	m := uint64(i%histSub + histSub)
	lo, hi := m<<e, (m+1)<<e-1
	return lo + (hi-lo)/2
}

func (h *latencyHist) record(d time.Duration) {
	d = max(d, 0)
	h.counts[histIndex(uint64(d/time.Microsecond))]++
	h.total++
	h.max = max(h.max, d)
}

// quantile returns the q-quantile (0 < q ≤ 1), 0 when empty.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histValue(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}
