package speaker

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func config(t testing.TB) *Config {
	t.Helper()
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

// segment is a stretch of packets every 20 ms at one level; level < 0
// sends no packets (DTX, or a sender that stopped).
type segment struct {
	dur   time.Duration
	level int
}

// run feeds segments to a new Track from time 0, asks State every
// 200 ms, and returns the times (ms) at which speaking changed and the
// highest level seen while speaking.
func run(t *testing.T, cfg *Config, segs []segment) (changes []int64, level float64) {
	t.Helper()
	tr := NewTrack(cfg)
	now, nextState, speaking := int64(0), int64(200*ms), false
	for _, sg := range segs {
		end := now + int64(sg.dur)
		for ; now < end; now += 20 * ms {
			if sg.level >= 0 {
				tr.Observe(uint8(sg.level), now)
			}
			if now >= nextState {
				s, l := tr.State(now)
				if s != speaking {
					changes = append(changes, now/ms)
					speaking = s
				}
				if s {
					level = max(level, l)
				}
				nextState += 200 * ms
			}
		}
	}
	return changes, level
}

func TestTrack(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	for _, tc := range []struct {
		name string
		segs []segment
		// want: the changes of the speaking state, each within
		// [lo, hi] ms; level the highest level while speaking.
		want  [][2]int64
		level float64
	}{
		{"loud speaks within the attack", []segment{{3 * time.Second, 20}}, [][2]int64{{300, 600}}, 0.84},
		{"silence never speaks", []segment{{3 * time.Second, 127}}, nil, 0},
		{"below the threshold never speaks", []segment{{3 * time.Second, 60}}, nil, 0},
		{"a cough does not start", []segment{{time.Second, 127}, {200 * time.Millisecond, 10}, {2 * time.Second, 127}}, nil, 0},
		{"a pause between words does not stop", []segment{
			{time.Second, 30}, {600 * time.Millisecond, 127}, {time.Second, 30}, {700 * time.Millisecond, 127}, {time.Second, 30},
		}, [][2]int64{{300, 600}}, 0.76},
		{"stops within the release", []segment{{2 * time.Second, 30}, {3 * time.Second, 127}}, [][2]int64{{300, 600}, {3000, 3300}}, 0.76},
		{"a sender gone quiet (DTX) stops", []segment{{2 * time.Second, 30}, {3 * time.Second, -1}}, [][2]int64{{300, 600}, {3000, 3300}}, 0.76},
		{"talk, stop, talk again", []segment{{time.Second, 30}, {2 * time.Second, 127}, {time.Second, 30}},
			[][2]int64{{300, 600}, {2000, 2300}, {3300, 3600}}, 0.76},
		{"half the packets loud: every slot active", []segment{{2 * time.Second, -2}}, [][2]int64{{300, 600}}, 0.84},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			segs := tc.segs
			if segs[0].level == -2 { // alternate loud and silent packets
				segs = nil
				for range 50 {
					segs = append(segs, segment{20 * time.Millisecond, 20}, segment{20 * time.Millisecond, 127})
				}
			}
			changes, level := run(t, cfg, segs)
			if len(changes) != len(tc.want) {
				t.Fatalf("speaking changed at %v ms; want %d changes within %v", changes, len(tc.want), tc.want)
			}
			for i, c := range changes {
				if c < tc.want[i][0] || c > tc.want[i][1] {
					t.Fatalf("change %d at %d ms; want within %v (all: %v)", i, c, tc.want[i], changes)
				}
			}
			if d := level - tc.level; d > 0.02 || d < -0.02 {
				t.Fatalf("level %.2f; want about %.2f", level, tc.level)
			}
		})
	}
}

// TestTrackReset: a muted track (Reset) is silent at once and has to
// speak for the attack again.
func TestTrackReset(t *testing.T) {
	t.Parallel()
	tr := NewTrack(config(t))
	now := int64(0)
	for ; now < int64(time.Second); now += 20 * ms {
		tr.Observe(20, now)
	}
	if s, _ := tr.State(now); !s {
		t.Fatal("not speaking after a second of speech")
	}
	tr.Reset()
	if s, _ := tr.State(now); s {
		t.Fatal("speaking after Reset")
	}
	tr.Observe(20, now)
	if s, _ := tr.State(now + 20*ms); s {
		t.Fatal("speaking one packet after Reset")
	}
}

// TestTrackBefore1970: a clock at negative times works as any other.
func TestTrackBefore1970(t *testing.T) {
	t.Parallel()
	tr := NewTrack(config(t))
	now := -int64(10 * time.Second)
	for end := now + int64(time.Second); now < end; now += 20 * ms {
		tr.Observe(20, now)
	}
	if s, _ := tr.State(now); !s {
		t.Fatal("not speaking after a second of speech")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"threshold 128", func(c *Config) { c.Threshold = 128 }, false},
		{"negative slot", func(c *Config) { c.Slot = -1 }, false},
		{"attack below a slot", func(c *Config) { c.Attack = c.Slot / 2 }, false},
		{"release of 100 slots", func(c *Config) { c.Release = 100 * c.Slot }, false},
		{"min active above 1", func(c *Config) { c.MinActive = 1.5 }, false},
		{"level step 0", func(c *Config) { c.LevelStep = -1 }, false},
		{"max negative", func(c *Config) { c.Max = -1 }, false},
		{"interval of 1 ns", func(c *Config) { c.Interval = 1 }, false},
		{"64 slots", func(c *Config) { c.Release = 64 * c.Slot }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := *config(t)
			tc.edit(&c)
			err := c.Validate()
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v; want ok %v", err, tc.ok)
			}
		})
	}
}

func TestRanking(t *testing.T) {
	t.Parallel()
	type step struct {
		at    int64 // ms
		cands []Speaker
		want  []string // nil: no list sent
	}
	sp := func(pairs ...any) []Speaker {
		var out []Speaker
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, Speaker{ID: pairs[i].(string), Level: pairs[i+1].(float64)})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"nobody ever speaks: nothing sent", []step{{0, nil, nil}, {200, nil, nil}}},
		{"loud first", []step{{0, sp("b", 0.5, "a", 0.8), []string{"a", "b"}}}},
		{"unchanged: not sent again", []step{{0, sp("a", 0.8), []string{"a"}}, {200, sp("a", 0.82), nil}}},
		{"a level moves a step: sent", []step{{0, sp("a", 0.8), []string{"a"}}, {200, sp("a", 0.6), []string{"a"}}}},
		{"throttled: the change waits for the interval", []step{
			{0, sp("a", 0.8), []string{"a"}}, {100, sp("a", 0.8, "b", 0.5), nil}, {200, sp("a", 0.8, "b", 0.5), []string{"a", "b"}},
		}},
		{"swap", []step{{0, sp("a", 0.8, "b", 0.5), []string{"a", "b"}}, {200, sp("a", 0.5, "b", 0.8), []string{"b", "a"}}}},
		{"close levels keep their order", []step{
			{0, sp("a", 0.71, "b", 0.75), []string{"a", "b"}}, {200, sp("b", 0.79, "a", 0.70), nil},
		}},
		{"everyone stops: the empty list is sent", []step{{0, sp("a", 0.8), []string{"a"}}, {200, nil, []string{}}, {400, nil, nil}}},
		{"a speaker leaves", []step{{0, sp("a", 0.8, "b", 0.6), []string{"a", "b"}}, {200, sp("b", 0.6), []string{"b"}}}},
		{"at most Max", []step{{0, sp("a", 0.1, "b", 0.2, "c", 0.3, "d", 0.4, "e", 0.5, "f", 0.6, "g", 0.7, "h", 0.8, "i", 0.9),
			[]string{"i", "h", "g", "f", "e", "d", "c", "b"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewRanking(config(t))
			for i, st := range tc.steps {
				list, ok := r.Update(st.at*ms, st.cands)
				if ok != (st.want != nil) {
					t.Fatalf("step %d: sent %v (%v); want %v", i, ok, list, st.want)
				}
				if !ok {
					continue
				}
				got := fmt.Sprint(ids(list))
				if got != fmt.Sprint(st.want) {
					t.Fatalf("step %d: list %v; want %v", i, got, st.want)
				}
			}
		})
	}
}

func ids(list []Speaker) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

// BenchmarkObserve is the per-packet cost on a publisher's reader.
func BenchmarkObserve(b *testing.B) {
	tr := NewTrack(config(b))
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		tr.Observe(uint8(now/ms)%64, now)
		now += 20 * ms
	}
}

// BenchmarkState is the cost of asking one track, a few times a second.
func BenchmarkState(b *testing.B) {
	tr := NewTrack(config(b))
	now := int64(0)
	for ; now < int64(time.Second); now += 20 * ms {
		tr.Observe(20, now)
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.State(now)
	}
}

// BenchmarkUpdate ranks a room of 10 speakers whose levels change.
func BenchmarkUpdate(b *testing.B) {
	r := NewRanking(config(b))
	cands := make([]Speaker, 10)
	names := make([]string, len(cands))
	for i := range names {
		names[i] = fmt.Sprintf("PA_%012d", i)
	}
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		for i := range cands {
			cands[i] = Speaker{ID: names[i], Level: float64((i+int(now/ms/200))%10) / 10}
		}
		r.Update(now, cands)
		now += 200 * ms
	}
}

// TestSwapWithinBound: two tracks swap levels at 2 s; on lists asked for
// every 100 ms, the new speaker is listed within attack + a tick (+ the
// throttle), the old one gone within release + a tick.
func TestSwapWithinBound(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	a, b := NewTrack(cfg), NewTrack(cfg)
	r := NewRanking(cfg)
	const swap = 2000
	var bListed, aGone int64 = -1, -1
	for now := int64(0); now < 5000*ms; now += 20 * ms {
		la, lb := uint8(20), uint8(127)
		if now >= swap*ms {
			la, lb = 127, 20
		}
		a.Observe(la, now)
		b.Observe(lb, now)
		if now%(100*ms) != 0 {
			continue
		}
		var cands []Speaker
		if s, l := a.State(now); s {
			cands = append(cands, Speaker{ID: "a", Level: l})
		}
		if s, l := b.State(now); s {
			cands = append(cands, Speaker{ID: "b", Level: l})
		}
		list, ok := r.Update(now, cands)
		if !ok {
			continue
		}
		got := fmt.Sprint(ids(list))
		switch {
		case now < swap*ms && got != "[a]":
			t.Fatalf("%d ms: %s before the swap", now/ms, got)
		case now >= swap*ms && bListed < 0 && (got == "[b]" || got == "[a b]" || got == "[b a]"):
			bListed = now/ms - swap
		}
		if now >= swap*ms && aGone < 0 && got == "[b]" {
			aGone = now/ms - swap
		}
	}
	t.Logf("after the swap: the new speaker listed at +%d ms, the old one gone at +%d ms", bListed, aGone)
	if bListed < 0 || bListed > 700 {
		t.Fatalf("the new speaker listed %d ms after the swap; want within 700", bListed)
	}
	if aGone < 0 || aGone > 1300 {
		t.Fatalf("the old speaker gone %d ms after the swap; want within 1300", aGone)
	}
}
