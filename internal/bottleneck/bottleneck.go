package bottleneck

import (
	"sync"
	"time"
)

// DefaultMaxDelay is the longest a packet may wait in the FIFO.
const DefaultMaxDelay = 200 * time.Millisecond

// Link is a bottleneck of a rate in bit/s; 0 is unlimited. Safe for
// concurrent use.
type Link struct {
	mu       sync.Mutex
	rate     int
	maxDelay time.Duration
	free     time.Time // when the last admitted packet has left
	admitted uint64
	dropped  uint64
}

// New returns a link of rate bit/s (0: unlimited) whose FIFO holds at
// most maxDelay of traffic (DefaultMaxDelay if 0).
func New(rate int, maxDelay time.Duration) *Link {
	if maxDelay <= 0 {
		maxDelay = DefaultMaxDelay
	}
	return &Link{rate: max(rate, 0), maxDelay: maxDelay}
}

// SetRate changes the rate from now on; packets already admitted keep
// their departure times.
func (l *Link) SetRate(rate int) {
	l.mu.Lock()
	l.rate = max(rate, 0)
	l.mu.Unlock()
}

// Rate returns the rate in bit/s (0: unlimited).
func (l *Link) Rate() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Admit offers a packet of size bytes arriving at now. It returns when
// the packet leaves the link, or false when the FIFO is full and the
// packet is dropped.
func (l *Link) Admit(size int, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate == 0 {
		l.admitted++
		return later(now, l.free), true
	}
	start := later(now, l.free)
	if start.Sub(now) > l.maxDelay {
		l.dropped++
		return time.Time{}, false
	}
	l.free = start.Add(time.Duration(int64(size) * 8 * int64(time.Second) / int64(l.rate)))
	l.admitted++
	return l.free, true
}

// Stats returns the packets admitted and dropped so far.
func (l *Link) Stats() (admitted, dropped uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitted, l.dropped
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
