package allocate

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const tick = 100 * time.Millisecond

// cluster is one probe cluster seen from outside: from the first call
// that returned padding to the first that did not.
type cluster struct {
	start, end time.Time
}

// sim drives a Prober every tick from t0 for d, with the estimate, media
// and target est returns at each moment, and returns the clusters it ran.
// It fails t if a probe breaks the bounds of cfg.
func sim(t *testing.T, p *Prober, cfg ProberConfig, d time.Duration, est func(now time.Time) (estimate, sending, target int)) []cluster {
	t.Helper()
	cfg = cfg.withDefaults()
	var cs []cluster
	for now := t0; now.Before(t0.Add(d)); now = now.Add(tick) {
		e, s, tg := est(now)
		probe := p.Next(now, e, s, tg)
		running := len(cs) > 0 && cs[len(cs)-1].end.IsZero()
		switch {
		case probe > 0 && !running:
			cs = append(cs, cluster{start: now})
		case probe == 0 && running:
			cs[len(cs)-1].end = now
		}
		if probe > 0 {
			if !p.Probing() {
				t.Fatalf("%v: probe %d while not Probing", now.Sub(t0), probe)
			}
			if u := p.Until(); u.IsZero() || u.Sub(now) > cfg.Duration {
				t.Fatalf("%v: Until %v", now.Sub(t0), u)
			}
			checkRate(t, cfg, probe, e, s, tg)
		}
	}
	return cs
}

// checkRate fails t unless probe is within the bounds of cfg.
func checkRate(t *testing.T, cfg ProberConfig, probe, estimate, sending, target int) {
	t.Helper()
	switch {
	case probe < 0:
		t.Fatalf("negative probe %d", probe)
	case float64(probe) > float64(estimate)*cfg.MaxOverhead:
		t.Fatalf("probe %d above %v of the estimate %d", probe, cfg.MaxOverhead, estimate)
	case float64(sending+probe) > float64(estimate)*cfg.MaxTotal:
		t.Fatalf("media %d + probe %d above %v × the estimate %d", sending, probe, cfg.MaxTotal, estimate)
	case sending+probe > target:
		t.Fatalf("media %d + probe %d above the target %d", sending, probe, target)
	}
}

// gaps returns the pause before each cluster after the first.
func gaps(cs []cluster) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(cs); i++ {
		g = append(g, cs[i].start.Sub(cs[i-1].end))
	}
	return g
}

func constant(estimate, sending, target int) func(time.Time) (int, int, int) {
	return func(time.Time) (int, int, int) { return estimate, sending, target }
}

func TestProberNotLimited(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                      string
		estimate, sending, target int
	}{
		{"nothing limited", 2 * M, 1800 * k, 0},
		{"the target fits the estimate", 2 * M, 1800 * k, 1900 * k},
		{"the media exceeds the estimate", 2 * M, 2100 * k, 3 * M},
		{"no estimate yet", 0, 0, 3 * M},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var p Prober
			if cs := sim(t, &p, ProberConfig{}, time.Minute, constant(c.estimate, c.sending, c.target)); len(cs) != 0 {
				t.Fatalf("probed %d times: %+v", len(cs), cs)
			}
		})
	}
}

// TestProberBackoff: a limited subscriber whose estimate never rises
// probes after the stable period, for Duration each time, with pauses
// doubling up to the cap.
func TestProberBackoff(t *testing.T) {
	t.Parallel()
	var p Prober
	cs := sim(t, &p, ProberConfig{}, 3*time.Minute, constant(2*M, 1800*k, 3*M))
	if len(cs) < 7 {
		t.Fatalf("%d clusters: %+v", len(cs), cs)
	}
	if got := cs[0].start.Sub(t0); got != DefaultStableFor {
		t.Errorf("first cluster after %v, want the stable period %v", got, DefaultStableFor)
	}
	for i, c := range cs {
		if d := c.end.Sub(c.start); d != DefaultDuration {
			t.Errorf("cluster %d lasted %v, want %v", i, d, DefaultDuration)
		}
	}
	want := []time.Duration{4, 8, 16, 30, 30, 30}
	for i, g := range gaps(cs)[:len(want)] {
		if g != want[i]*time.Second {
			t.Errorf("pauses %v, want %v s", gaps(cs), want)
			break
		}
	}
}

// TestProberSuccessResets: a cluster at the end of which the estimate has
// risen by SuccessGain succeeds and brings the pause back to Interval; one
// during which the estimate reaches the target ends there, a success too.
func TestProberSuccessResets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		raised int           // the estimate once the fourth cluster runs
		length time.Duration // of that cluster
	}{
		{"a 10% rise", 2200 * k, DefaultDuration},
		{"the target reached", 3 * M, tick},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var p Prober
			est := 2 * M
			var rose time.Time
			cs := sim(t, &p, ProberConfig{}, 2*time.Minute, func(now time.Time) (int, int, int) {
				// Three failed clusters, then the link answers the fourth.
				if rose.IsZero() && p.Probing() && now.Sub(t0) > 20*time.Second {
					rose, est = now, c.raised
				}
				target := 3 * M
				if !rose.IsZero() && now.After(rose) {
					target = 4 * M // the allocation climbed, and wants the next step
				}
				return est, 1800 * k, target
			})
			if rose.IsZero() || len(cs) < 6 {
				t.Fatalf("the estimate never rose during a cluster; clusters %+v", cs)
			}
			g := gaps(cs)
			if cs[3].start.After(rose) || cs[3].end.Before(rose) {
				t.Fatalf("the rise at %v is not in the fourth cluster: %+v", rose.Sub(t0), cs)
			}
			if d := cs[3].end.Sub(cs[3].start); d != c.length {
				t.Errorf("the successful cluster lasted %v, want %v", d, c.length)
			}
			if g[2] != 16*time.Second || g[3] != DefaultInterval {
				t.Errorf("pauses %v: want 16 s after three failures, then %v after the success", g, DefaultInterval)
			}
		})
	}
}

// TestProberStops: loss reported during a cluster, or a drop of the
// estimate, stops it at once; the next waits for the doubled pause and for
// the stable period.
func TestProberStops(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		hit  func(p *Prober, now time.Time) int // returns the estimate from now on
		wait time.Duration                      // until the next cluster
	}{
		{"loss", func(p *Prober, now time.Time) int { p.Lost(now, 0.01); return 2 * M }, 4 * time.Second},
		{"an estimate drop", func(p *Prober, now time.Time) int { return 1800 * k }, 4 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var p Prober
			now := t0
			for ; !p.Probing(); now = now.Add(tick) {
				if p.Next(now, 2*M, 1500*k, 3*M) > 0 {
					break
				}
			}
			now = now.Add(tick)
			est := c.hit(&p, now)
			if probe := p.Next(now, est, 1500*k, 3*M); probe != 0 || p.Probing() {
				t.Fatalf("after %s the probe is %d, Probing %v", c.name, probe, p.Probing())
			}
			stopped := now
			for now = now.Add(tick); p.Next(now, est, 1500*k, 3*M) == 0; now = now.Add(tick) {
				if now.Sub(stopped) > time.Minute {
					t.Fatal("never probed again")
				}
			}
			if got := now.Sub(stopped); got != c.wait {
				t.Errorf("next cluster %v after the stop, want %v", got, c.wait)
			}
		})
	}
}

// TestProberNoise: loss within LossTolerance outside a cluster, and
// estimate dips within DropTolerance, do not hold probing back; loss above
// it restarts the stable period.
func TestProberNoise(t *testing.T) {
	t.Parallel()
	var p Prober
	for now := t0; now.Before(t0.Add(DefaultStableFor)); now = now.Add(tick) {
		p.Lost(now, DefaultLossTolerance/2)
		if p.Next(now, 2*M-int(now.Sub(t0)/tick)%2*80*k, 1500*k, 3*M) != 0 {
			t.Fatalf("probed %v after the start", now.Sub(t0))
		}
	}
	if p.Next(t0.Add(DefaultStableFor), 2*M, 1500*k, 3*M) == 0 {
		t.Fatal("noise held the probe back")
	}

	var q Prober
	q.Next(t0, 2*M, 1500*k, 3*M)
	q.Lost(t0.Add(time.Second), 0.05)
	if q.Next(t0.Add(DefaultStableFor), 2*M, 1500*k, 3*M) != 0 {
		t.Fatal("probed within the stable period after real loss")
	}
	if q.Next(t0.Add(time.Second+DefaultStableFor), 2*M, 1500*k, 3*M) == 0 {
		t.Fatal("no probe once the link was stable again")
	}
}

// TestProberRate: the padding brings the media up to the target, within
// MaxOverhead and MaxTotal of the estimate, for any input.
func TestProberRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                            string
		estimate, sending, target, want int
	}{
		{"up to the target", 2 * M, 1800 * k, 2100 * k, 300 * k},
		{"at most half the estimate on top", 2 * M, 1000 * k, 5 * M, 1 * M},
		{"at most 1.5 × the estimate in all", 2 * M, 2 * M, 5 * M, 1 * M},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var p Prober
			p.Next(t0, c.estimate, c.sending, c.target)
			if got := p.Next(t0.Add(DefaultStableFor), c.estimate, c.sending, c.target); got != c.want {
				t.Errorf("probe %d, want %d", got, c.want)
			}
		})
	}

	rng := rand.New(rand.NewPCG(5, 6))
	cfg := ProberConfig{}.withDefaults()
	var p Prober
	now := t0
	for range 100000 {
		now = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		e, s, tg := rng.IntN(5*M)-k, rng.IntN(5*M)-k, rng.IntN(8*M)-k
		if rng.IntN(50) == 0 {
			p.Lost(now, rng.Float64())
		}
		probe := p.Next(now, e, s, tg)
		if probe != 0 {
			checkRate(t, cfg, probe, e, s, tg)
			if e <= 0 || s < 0 {
				t.Fatalf("probe %d with estimate %d, media %d", probe, e, s)
			}
		}
	}
}

func TestProberConfig(t *testing.T) {
	t.Parallel()
	if err := (ProberConfig{}).Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for _, bad := range []ProberConfig{
		{Duration: -time.Second},
		{Interval: 40 * time.Second},
		{MaxOverhead: 1.5},
		{MaxOverhead: -0.1},
		{MaxTotal: 0.9},
		{SuccessGain: 2},
		{DropTolerance: 1},
		{LossTolerance: -1},
	} {
		if _, err := NewProber(bad); !errors.Is(err, ErrProberConfig) {
			t.Errorf("NewProber(%+v): %v, want ErrProberConfig", bad, err)
		}
	}
	// A tuned prober keeps to its own bounds.
	cfg := ProberConfig{StableFor: 500 * time.Millisecond, Duration: 300 * time.Millisecond, Interval: time.Second, MaxInterval: 3 * time.Second, MaxOverhead: 0.2}
	p, err := NewProber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := sim(t, p, cfg, 30*time.Second, constant(2*M, 1800*k, 3*M))
	if len(cs) < 3 || cs[0].start.Sub(t0) != cfg.StableFor || cs[0].end.Sub(cs[0].start) != cfg.Duration {
		t.Fatalf("clusters %+v", cs)
	}
	if g := gaps(cs); g[0] != 2*time.Second || g[len(g)-1] != cfg.MaxInterval {
		t.Errorf("pauses %v", g)
	}
}

func TestProberAllocatesNothing(t *testing.T) {
	var p Prober
	now := t0
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(tick)
		p.Next(now, 2*M, 1800*k, 3*M)
	}); n != 0 {
		t.Errorf("%v allocations per Next", n)
	}
}

// BenchmarkProberNext: one call of Next every 100 ms of simulated time on
// a limited subscriber, through clusters, failures and pauses.
func BenchmarkProberNext(b *testing.B) {
	var p Prober
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		est := 2 * M
		if i%97 == 0 {
			est = 2300 * k // an occasional success
		}
		p.Next(now, est, 1800*k, 3*M)
		i++
	}
}
