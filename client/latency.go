package client

import (
	"math/bits"
	"time"
)

// LatencyHistogram is a fixed log-linear histogram of microseconds: exact
// below 16 µs, then 16 buckets per power of two (about 6% wide), up to
// 2^36 µs. Recording never allocates; histograms of several tracks merge.
type LatencyHistogram struct {
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

// Record adds one latency.
func (h *LatencyHistogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[histIndex(uint64(d/time.Microsecond))]++
	h.total++
	h.max = max(h.max, d)
}

// Quantile returns the q-quantile (0 < q ≤ 1), 0 when empty.
func (h *LatencyHistogram) Quantile(q float64) time.Duration {
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

// Merge adds o's counts to h.
func (h *LatencyHistogram) Merge(o *LatencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Count is the number of latencies recorded.
func (h *LatencyHistogram) Count() uint64 { return h.total }

// Max is the largest latency recorded.
func (h *LatencyHistogram) Max() time.Duration { return h.max }

// Subtract removes o's counts from h, for the latencies recorded between
// two copies of one histogram (o the earlier). The maximum is kept.
func (h *LatencyHistogram) Subtract(o *LatencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] -= min(c, h.counts[i])
	}
	h.total -= min(o.total, h.total)
}
