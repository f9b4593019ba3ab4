package sfu

import "time"

// bucket is a token bucket of bits: it fills at rate bits per second up to
// one BitrateWindow's worth, and each packet takes its size. The zero
// value, and any with a rate of 0 or less, lets everything through. It is
// not safe for concurrent use; it never allocates.
type bucket struct {
	rate   int64 // bits per second
	tokens int64 // bits
	last   int64 // unix nanoseconds of the last fill; 0: never filled
}

func newBucket(bps int) bucket { return bucket{rate: int64(bps)} }

// take removes bits if the bucket holds them at now and reports whether it
// did.
func (b *bucket) take(now, bits int64) bool {
	if !b.has(now, bits) {
		return false
	}
	if b.rate > 0 {
		b.tokens -= bits
	}
	return true
}

// has fills the bucket up to now and reports whether it holds bits.
func (b *bucket) has(now, bits int64) bool {
	if b.rate <= 0 {
		return true
	}
	depth := b.rate * int64(BitrateWindow) / int64(time.Second)
	switch elapsed := now - b.last; {
	case b.last == 0 || elapsed >= int64(BitrateWindow):
		b.tokens = depth
	case elapsed > 0:
		b.tokens = min(depth, b.tokens+elapsed*b.rate/int64(time.Second))
	}
	if now > b.last {
		b.last = now
	}
	return b.tokens >= bits
}
