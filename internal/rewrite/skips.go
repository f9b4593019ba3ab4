package rewrite

// maxRuns bounds the runs of skipped packets a Skips remembers: at one run
// a picture (a scalable stream's upper layers, say), about four seconds at
// 30 pictures a second, longer than any NACK is answered.
const maxRuns = 128

// Skips closes the holes that packets deliberately not forwarded (the
// layers of a scalable stream a subscriber is not sent) would leave in its
// sequence numbers: Forward maps each forwarded packet's sequence number
// to a compact one that counts only forwarded packets, to feed a Stream;
// Reverse maps a compact number (from the Stream's Reverse of a NACK)
// back. Packets lost upstream still leave a hole, which the subscriber
// NACKs.
//
// A packet skipped after a later one was already seen (reordered) cannot
// close its hole; the subscriber NACKs it, and the caller should check a
// retransmission against what it forwards. Only the last maxRuns runs of
// consecutive skipped packets are remembered; packets older than those map
// to nothing.
//
// A Skips is not safe for concurrent use. Its zero value is ready.
type Skips struct {
	started  bool
	newest   uint64 // extended input seq of the newest packet seen
	skipped  uint64 // packets skipped in all
	floor    uint64 // inputs below are no longer mapped (older runs dropped)
	floorCum uint64 // packets skipped before floor
	runs     [maxRuns]run
	head, n  int // runs[head] is the oldest of n
}

// run is a stretch of consecutive skipped packets, by extended input
// sequence number, inclusive, and how many were skipped before it.
type run struct {
	start, end, before uint64
}

func (r *run) after() uint64 { return r.before + r.end - r.start + 1 }

// Reset forgets every packet: the next one starts afresh.
func (s *Skips) Reset() { *s = Skips{} }

// extend returns the extended form of seq, nearest to the newest.
func (s *Skips) extend(seq uint16) uint64 {
	if !s.started {
		s.started = true
		s.newest = 1<<32 | uint64(seq)
		s.floor = s.newest // nothing before the first packet maps
		return s.newest
	}
	return uint64(int64(s.newest) + int64(int16(seq-uint16(s.newest))))
}

func (s *Skips) at(k int) *run { return &s.runs[(s.head+k)%maxRuns] }

// Skip records that the packet seq is not forwarded.
func (s *Skips) Skip(seq uint16) {
	first := !s.started
	ext := s.extend(seq)
	if !first && ext <= s.newest {
		return // late: its number is taken already
	}
	s.newest = ext
	if s.n > 0 {
		if last := s.at(s.n - 1); last.end+1 == ext {
			last.end = ext
			s.skipped++
			return
		}
	}
	if s.n == maxRuns {
		old := s.at(0)
		s.floor, s.floorCum = old.end+1, old.after()
		s.head = (s.head + 1) % maxRuns
		s.n--
	}
	*s.at(s.n) = run{start: ext, end: ext, before: s.skipped}
	s.n++
	s.skipped++
}

// Forward returns the compact sequence number of the forwarded packet seq,
// and false when seq was skipped or is too old to map.
func (s *Skips) Forward(seq uint16) (uint16, bool) {
	ext := s.extend(seq)
	if ext > s.newest {
		s.newest = ext
		return uint16(ext - s.skipped), true
	}
	for k := s.n - 1; k >= 0; k-- {
		r := s.at(k)
		switch {
		case ext > r.end:
			return uint16(ext - r.after()), true
		case ext >= r.start:
			return 0, false
		}
	}
	if ext < s.floor {
		return 0, false
	}
	return uint16(ext - s.floorCum), true
}

// Skipped reports whether the packet seq was skipped (among those still
// remembered).
func (s *Skips) Skipped(seq uint16) bool {
	if !s.started {
		return false
	}
	ext := uint64(int64(s.newest) + int64(int16(seq-uint16(s.newest))))
	for k := s.n - 1; k >= 0; k-- {
		r := s.at(k)
		switch {
		case ext > r.end:
			return false
		case ext >= r.start:
			return true
		}
	}
	return false
}

// Reverse maps a compact sequence number given by Forward back to the
// packet's own, and false when it names no packet forwarded (among those
// still mapped).
func (s *Skips) Reverse(compact uint16) (uint16, bool) {
	if !s.started {
		return 0, false
	}
	ref := s.newest - s.skipped
	c := uint64(int64(ref) + int64(int16(compact-uint16(ref))))
	end := s.newest
	for k := s.n - 1; k >= -1; k-- {
		start, cum := s.floor, s.floorCum
		if k >= 0 {
			r := s.at(k)
			start, cum = r.end+1, r.after()
		}
		if in := c + cum; in >= start {
			if in > end {
				return 0, false
			}
			return uint16(in), true
		}
		if k >= 0 {
			end = s.at(k).start - 1
		}
	}
	return 0, false
}
