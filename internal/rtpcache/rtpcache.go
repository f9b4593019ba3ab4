package rtpcache

import (
	"sync"
	"sync/atomic"
)

// MaxPacket is the largest packet, in bytes, that a Cache holds. Larger
// packets are not cached and are counted in Stats.TooBig.
const MaxPacket = 1500

// minHeader is the size of a fixed RTP header without CSRCs.
const minHeader = 12

// Stats counts what a Cache did with the packets given to Store.
type Stats struct {
	Stored   uint64 // packets copied into the ring
	TooBig   uint64 // packets longer than MaxPacket, not cached
	TooShort uint64 // packets shorter than an RTP header, ignored
	TooOld   uint64 // packets older than the ring's window, not cached
	Jumps    uint64 // packets more than 16384 seqs behind, taken as a restart
}

// maxJump is the furthest back, in packets, a sequence number may be from
// the newest one and still be taken as a late packet of the same
// numbering. A packet further back means the sender restarted its
// numbering; it is then taken as newer than every packet held, instead of
// being refused until the new numbering catches up with the old one.
const maxJump = 1 << 14

// slot holds one packet. Its mutex is taken by Store for the slot it
// overwrites and by Get for the slot it reads, so a writer and readers of
// different sequence numbers never contend.
type slot struct {
	mu  sync.Mutex
	ext uint64 // extended sequence number of the packet held
	n   int    // packet length; 0 when the slot is empty
	buf [MaxPacket]byte
}

// Cache is a ring of the most recent packets of one RTP stream, indexed by
// sequence number. The zero value is not usable; call New.
type Cache struct {
	slots []slot
	mask  uint64

	// newest is the highest extended sequence number stored, plus one
	// (0 means nothing stored yet). It is written only by Store.
	newest atomic.Uint64

	stored, tooBig, tooShort, tooOld, jumps atomic.Uint64
}

// New returns a Cache holding the last capacity packets, rounded up to a
// power of two (at least 1). All buffers are allocated here.
func New(capacity int) *Cache {
	size := 1
	for size < capacity {
		size <<= 1
	}
	return &Cache{
		slots: make([]slot, size),
		mask:  uint64(size - 1),
	}
}

// Capacity returns the number of packets the Cache can hold.
func (c *Cache) Capacity() int { return len(c.slots) }

// extBase keeps extended sequence numbers far from zero, so that a packet
// arriving before the first one stored still gets a positive number.
const extBase = 1 << 32

// extend returns the extended sequence number of seq: the one closest to
// ref, an extended number plus one as kept in newest (0 means none yet).
func extend(ref uint64, seq uint16) uint64 {
	if ref == 0 {
		return extBase + uint64(seq)
	}
	last := ref - 1
	return uint64(int64(last) + int64(int16(seq-uint16(last))))
}

// Store copies pkt into the ring, replacing the packet that held its slot.
// It must be called by one goroutine at a time. Packets shorter than an RTP
// header, longer than MaxPacket, or older than the ring's window are not
// stored; a packet more than maxJump (16384) behind the newest is taken as
// a restart of the sender's numbering and stored as the newest.
func (c *Cache) Store(pkt []byte) {
	if len(pkt) < minHeader {
		c.tooShort.Add(1)
		return
	}
	if len(pkt) > MaxPacket {
		c.tooBig.Add(1)
		return
	}
	seq := uint16(pkt[2])<<8 | uint16(pkt[3])
	ref := c.newest.Load()
	ext := extend(ref, seq)
	if ref != 0 && ext+maxJump < ref-1 {
		c.jumps.Add(1)
		ext = ref - 1 + uint64(seq-uint16(ref-1))
	}
	if ref != 0 && ext+uint64(len(c.slots)) < ref {
		// Older than everything the ring still holds: storing it would
		// evict a newer packet.
		c.tooOld.Add(1)
		return
	}

	s := &c.slots[ext&c.mask]
	s.mu.Lock()
	s.ext = ext
	s.n = copy(s.buf[:], pkt)
	s.mu.Unlock()

	if ext >= ref {
		c.newest.Store(ext + 1)
	}
	c.stored.Add(1)
}

// Get copies the packet with sequence number seq into dst and returns its
// length. It returns 0 if that packet is not held (never stored, or
// evicted by newer ones) or if dst is shorter than the packet; a dst of
// MaxPacket bytes is always enough. Get is safe for concurrent use with
// Store and other Gets.
func (c *Cache) Get(seq uint16, dst []byte) int {
	ref := c.newest.Load()
	if ref == 0 {
		return 0
	}
	ext := extend(ref, seq)
	if ext >= ref || ext+uint64(len(c.slots)) < ref {
		return 0
	}
	s := &c.slots[ext&c.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 || s.ext != ext || len(dst) < s.n {
		return 0
	}
	return copy(dst, s.buf[:s.n])
}

// Stats returns the counters of packets given to Store.
func (c *Cache) Stats() Stats {
	return Stats{
		Stored:   c.stored.Load(),
		TooBig:   c.tooBig.Load(),
		TooShort: c.tooShort.Load(),
		TooOld:   c.tooOld.Load(),
		Jumps:    c.jumps.Load(),
	}
}
