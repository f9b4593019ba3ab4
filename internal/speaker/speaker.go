package speaker

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// Config tunes detection. Zero values take the defaults.
type Config struct {
	// Threshold is the quietest level, in -dBov (0 loudest, 127
	// silence), at which a packet counts as active; default 50 (-50 dBov).
	Threshold uint8
	// Slot is the unit of time activity is counted in; default 50 ms. A
	// slot is active when at least half of its packets are: a slot
	// without packets (a sender in DTX, a lost stretch) is silent.
	Slot time.Duration
	// Attack is the window a track must have been active in, for at
	// least MinActive of its slots, to start speaking; default 500 ms,
	// MinActive 0.6 (300 ms of speech in the last 500 ms).
	Attack    time.Duration
	MinActive float64
	// Release is how long a speaking track stays so without an active
	// slot; default 1 s.
	Release time.Duration
	// Interval is the least time between two lists; default 200 ms, at
	// least 10 ms.
	Interval time.Duration
	// LevelStep is the change of a listed speaker's level that makes a
	// new list by itself; levels closer than it keep their order.
	// Default 0.1.
	LevelStep float64
	// Max is the most speakers listed, loudest first; default 8.
	Max int
}

// minInterval is the shortest Config.Interval.
const minInterval = 10 * time.Millisecond

// maxSlots bounds the slots a Track keeps: max(Attack, Release) / Slot.
const maxSlots = 64

// ErrConfig is returned by Validate for a configuration that cannot work.
var ErrConfig = errors.New("speaker: config")

// SetDefaults fills in the zero fields.
func (c *Config) SetDefaults() {
	if c.Threshold == 0 {
		c.Threshold = 50
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Slot, 50*time.Millisecond)
	def(&c.Attack, 500*time.Millisecond)
	def(&c.Release, time.Second)
	def(&c.Interval, 200*time.Millisecond)
	if c.MinActive == 0 {
		c.MinActive = 0.6
	}
	if c.LevelStep == 0 {
		c.LevelStep = 0.1
	}
	if c.Max == 0 {
		c.Max = 8
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Threshold > 127:
		return errors.Join(ErrConfig, errors.New("threshold above 127 dB"))
	case c.Slot <= 0 || c.Attack < c.Slot || c.Release < c.Slot:
		return errors.Join(ErrConfig, errors.New("slot, attack and release must be positive, attack and release at least a slot"))
	case max(c.Attack, c.Release)/c.Slot > maxSlots:
		return errors.Join(ErrConfig, errors.New("attack or release longer than 64 slots"))
	case c.MinActive <= 0 || c.MinActive > 1:
		return errors.Join(ErrConfig, errors.New("min active fraction outside (0, 1]"))
	case c.Interval < minInterval || c.LevelStep <= 0 || c.LevelStep > 1 || c.Max < 1:
		return errors.Join(ErrConfig, errors.New("interval below 10 ms, level step outside (0, 1] or max below 1"))
	}
	return nil
}

// amplitude[l] is the linear amplitude of level l (-l dBov): 10^(-l/20).
var amplitude = func() (a [128]float32) {
	for l := range a {
		a[l] = float32(math.Pow(10, -float64(l)/20))
	}
	return a
}()

// slot counts the packets of one time slot.
type slot struct {
	num     int64 // which slot of time (now / Slot) this is; its counts are stale otherwise
	packets uint16
	active  uint16
	amp     float32 // sum of the active packets' linear amplitudes
}

func (s *slot) isActive() bool { return s.active > 0 && 2*int(s.active) >= int(s.packets) }

// Track is the recent activity of one audio track. Observe and State may
// be called from different goroutines.
type Track struct {
	threshold       uint8
	slotNs          int64
	attack, release int64 // in slots
	need            int   // active slots of the attack window to start
	mu              sync.Mutex
	ring            [maxSlots]slot
	speaking        bool
	lastActive      int64 // slot number of the last active slot seen by State
	hasActive       bool
}

// NewTrack returns the state of one track; cfg must have passed
// Validate (after SetDefaults).
func NewTrack(cfg *Config) *Track {
	slotNs := int64(cfg.Slot)
	attack := int64(cfg.Attack) / slotNs
	return &Track{
		threshold: cfg.Threshold, slotNs: slotNs, attack: attack,
		release: int64(cfg.Release) / slotNs,
		need:    max(1, int(math.Ceil(cfg.MinActive*float64(attack)-1e-9))),
	}
}

// Observe takes the level (-dBov, 0..127) of one packet that arrived at
// now (unix nanoseconds). Levels above 127 count as 127.
func (t *Track) Observe(level uint8, now int64) {
	level = min(level, 127)
	num := now / t.slotNs
	t.mu.Lock()
	s := &t.ring[index(num)]
	if s.num != num {
		*s = slot{num: num}
	}
	if s.packets < math.MaxUint16 {
		s.packets++
		if level <= t.threshold {
			s.active++
			s.amp += amplitude[level]
		}
	}
	t.mu.Unlock()
}

// index is the ring slot of slot number num, negative ones (times before
// 1970) included: maxSlots is a power of two.
func index(num int64) int64 { return num & (maxSlots - 1) }

// Reset forgets all activity (a track muted, say): it is silent until it
// speaks for Attack again.
func (t *Track) Reset() {
	t.mu.Lock()
	t.ring = [maxSlots]slot{}
	t.speaking, t.hasActive = false, false
	t.mu.Unlock()
}

// State reports whether the track speaks at now, and if so its level:
// the mean amplitude of its active packets over the last
// max(Attack, Release), in dB mapped onto 0 (-127 dBov) .. 1 (0 dBov),
// rounded to 0.01 — how loud it speaks, not how loud its pauses are.
// Calls must come in time order (it keeps the speaking state between
// them).
func (t *Track) State(now int64) (speaking bool, level float64) {
	cur := now / t.slotNs
	t.mu.Lock()
	defer t.mu.Unlock()
	active, loud := 0, 0 // active slots of the attack window, active packets of the whole
	var amp float64
	window := max(t.attack, t.release)
	for num := cur - window + 1; num <= cur; num++ {
		s := &t.ring[index(num)]
		if s.num != num || s.packets == 0 {
			continue
		}
		loud += int(s.active)
		amp += float64(s.amp)
		if s.isActive() {
			t.lastActive, t.hasActive = num, true
			if num > cur-t.attack {
				active++
			}
		}
	}
	switch {
	case !t.speaking && active >= t.need:
		t.speaking = true
	case t.speaking && (!t.hasActive || cur-t.lastActive >= t.release):
		t.speaking = false
	}
	if !t.speaking {
		return false, 0
	}
	if loud == 0 || amp <= 0 {
		return true, 0 // cannot be: speaking has an active slot in the window
	}
	db := -20 * math.Log10(amp/float64(loud)) // 0..127
	return true, math.Round(max(0, min(1, 1-db/127))*100) / 100
}

// Speaker is one entry of a Ranking's list.
type Speaker struct {
	ID    string
	Level float64 // 0..1
}

// Ranking orders a room's speakers and decides when to tell the room.
type Ranking struct {
	cfg      Config
	last     []Speaker // the list last returned
	next     []Speaker
	lastSent int64
	sent     bool
}

// NewRanking returns a Ranking; cfg must have passed Validate (after
// SetDefaults).
func NewRanking(cfg *Config) *Ranking { return &Ranking{cfg: *cfg} }

// Update takes the speakers of the room at now (one entry per id, in any
// order; Update may reorder the slice) and returns the ranked list and
// true when it should be sent: its ids or their order changed, or a level
// moved by LevelStep or more, and Interval has passed since the last
// list. The list is the Ranking's until the next call.
func (r *Ranking) Update(now int64, cands []Speaker) ([]Speaker, bool) {
	if r.sent && now-r.lastSent < int64(r.cfg.Interval) {
		return nil, false
	}
	step := r.cfg.LevelStep
	rank := func(id string) int {
		for i, s := range r.last {
			if s.ID == id {
				return i
			}
		}
		return len(r.last)
	}
	// Louder first by whole steps; within a step, the order of the last
	// list, then the id: two voices alike do not swap places each time.
	slices.SortFunc(cands, func(a, b Speaker) int {
		if c := cmp.Compare(bucket(b.Level, step), bucket(a.Level, step)); c != 0 {
			return c
		}
		if c := cmp.Compare(rank(a.ID), rank(b.ID)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(cands) > r.cfg.Max {
		cands = cands[:r.cfg.Max]
	}
	if !r.changed(cands) {
		return nil, false
	}
	r.next = append(r.next[:0], cands...)
	r.last, r.next = r.next, r.last
	r.lastSent, r.sent = now, true
	return r.last, true
}

// bucket is the whole steps in level (0.7 is 7 steps of 0.1, not 6.99).
func bucket(level, step float64) float64 { return math.Floor(level/step + 1e-9) }

// changed reports whether list differs from the last one sent (before
// the first, an empty one: a room where nobody ever spoke hears nothing).
func (r *Ranking) changed(list []Speaker) bool {
	if len(list) != len(r.last) {
		return true
	}
	for i := range list {
		if list[i].ID != r.last[i].ID || math.Abs(list[i].Level-r.last[i].Level) >= r.cfg.LevelStep {
			return true
		}
	}
	return false
}
