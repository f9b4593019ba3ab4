package allocate

import (
	"fmt"
	"math"
	"time"
)

// ProberConfig tunes a Prober. A zero field takes its default.
type ProberConfig struct {
	// StableFor is how long the estimate must not have dropped, nor loss
	// been reported, before a probe starts. Default 2 s.
	StableFor time.Duration
	// Duration bounds one probe cluster. Default 1 s.
	Duration time.Duration
	// Interval is the pause after a probe cluster before the next may
	// start; it doubles after each failed cluster, up to MaxInterval, and
	// comes back to Interval after a successful one. Default 2 s.
	Interval time.Duration
	// MaxInterval caps the pause. Default 30 s.
	MaxInterval time.Duration
	// MaxOverhead bounds the probe padding, as a fraction of the estimate.
	// Default 0.5.
	MaxOverhead float64
	// MaxTotal bounds media plus probe, as a multiple of the estimate.
	// Default 1.5.
	MaxTotal float64
	// SuccessGain is how much the estimate must have risen at the end of
	// a cluster, as a fraction of the estimate at its start, for a probe
	// that did not reach its target to succeed. Default 0.10.
	SuccessGain float64
	// DropTolerance is how far, as a fraction, the estimate may fall below
	// its highest value since the last drop before the fall counts as a
	// drop. Default 0.05.
	DropTolerance float64
	// LossTolerance is the loss fraction that, reported outside a probe,
	// is taken as the link's ordinary noise rather than a sign of
	// congestion. During a probe, any loss stops it. Default 0.02.
	LossTolerance float64
}

// The defaults of ProberConfig.
const (
	DefaultStableFor     = 2 * time.Second
	DefaultDuration      = time.Second
	DefaultInterval      = 2 * time.Second
	DefaultMaxInterval   = 30 * time.Second
	DefaultMaxOverhead   = 0.5
	DefaultMaxTotal      = 1.5
	DefaultSuccessGain   = 0.10
	DefaultDropTolerance = 0.05
	DefaultLossTolerance = 0.02
)

// withDefaults returns c with every zero field set to its default.
func (c ProberConfig) withDefaults() ProberConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.StableFor, DefaultStableFor)
	def(&c.Duration, DefaultDuration)
	def(&c.Interval, DefaultInterval)
	def(&c.MaxInterval, DefaultMaxInterval)
	deff(&c.MaxOverhead, DefaultMaxOverhead)
	deff(&c.MaxTotal, DefaultMaxTotal)
	deff(&c.SuccessGain, DefaultSuccessGain)
	deff(&c.DropTolerance, DefaultDropTolerance)
	deff(&c.LossTolerance, DefaultLossTolerance)
	return c
}

// Validate reports whether c, with its defaults filled in, makes sense.
func (c ProberConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.StableFor < 0 || c.Duration < 0 || c.Interval < 0:
		return fmt.Errorf("%w: negative duration", ErrProberConfig)
	case c.MaxInterval < c.Interval:
		return fmt.Errorf("%w: MaxInterval %v below Interval %v", ErrProberConfig, c.MaxInterval, c.Interval)
	case !(c.MaxOverhead > 0 && c.MaxOverhead <= 1):
		return fmt.Errorf("%w: MaxOverhead %v not in (0, 1]", ErrProberConfig, c.MaxOverhead)
	case !(c.MaxTotal >= 1 && c.MaxTotal <= 4):
		return fmt.Errorf("%w: MaxTotal %v not in [1, 4]", ErrProberConfig, c.MaxTotal)
	case !(c.SuccessGain > 0 && c.SuccessGain <= 1):
		return fmt.Errorf("%w: SuccessGain %v not in (0, 1]", ErrProberConfig, c.SuccessGain)
	case !(c.DropTolerance > 0 && c.DropTolerance < 1):
		return fmt.Errorf("%w: DropTolerance %v not in (0, 1)", ErrProberConfig, c.DropTolerance)
	case !(c.LossTolerance > 0 && c.LossTolerance < 1):
		return fmt.Errorf("%w: LossTolerance %v not in (0, 1)", ErrProberConfig, c.LossTolerance)
	}
	return nil
}

// Prober decides when to probe one subscriber's downlink for more room,
// and how hard: padding sent on top of the media, in clusters of at most
// Duration, at most MaxOverhead of the estimate on top of the media and
// MaxTotal of it in all. A cluster starts only while the allocation wants
// more than the estimate, the media fits in the estimate, the link has
// been stable for StableFor and the pause after the last cluster is over.
// Within a cluster each call sizes the padding from the estimate of the
// moment, so that a link that answers is ramped up step by step. The
// cluster succeeds, and ends, as soon as the estimate reaches the target;
// at the end of its Duration it succeeds if the estimate rose by
// SuccessGain, and fails otherwise; it fails at once on any reported loss
// or drop of the estimate. Each failure doubles the pause, a success
// brings it back to Interval.
//
// The estimate should grow only with what the link was seen to carry:
// libwebrtc's estimator caps it at 1.5 × the acknowledged rate, but
// Pion's gcc (which grows it 8%/s) caps it only while that rate is above
// two thirds of the estimate. An SFU that sends less than that should
// pass min(estimate, 1.5 × acknowledged rate + 10 kbit/s) as the
// estimate, here and to Allocate; probing is then what lets it climb (as
// TestClosedLoop shows on a toy link).
//
// The zero value is ready to use, with the defaults. A Prober is not safe
// for concurrent use; it reads no clock: now is passed in, and should not
// go backwards.
type Prober struct {
	cfg   ProberConfig
	ready bool

	peak        int           // highest estimate since the last drop
	stableSince time.Time     // last drop of the estimate, or loss
	wait        time.Duration // pause after the last cluster
	ended       time.Time     // end of the last cluster; zero: none yet

	probing  bool
	start    time.Time // of the running cluster
	startEst int       // estimate when it started
}

// NewProber returns a Prober tuned by cfg, or an error wrapping
// ErrProberConfig when cfg does not Validate.
func NewProber(cfg ProberConfig) (*Prober, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Prober{cfg: cfg.withDefaults()}, nil
}

// setup takes the defaults in and starts the stable period at now, on the
// first call.
func (p *Prober) setup(now time.Time) {
	if p.ready {
		return
	}
	p.ready = true
	p.cfg = p.cfg.withDefaults()
	p.wait = p.cfg.Interval
	p.stableSince = now
}

// outcome is how a probe cluster ended.
type outcome int

const (
	failed    outcome = iota // too little gain in time, or loss, or a drop: back off
	succeeded                // the estimate rose, or reached the target: probe again soon
)

// end stops the running cluster at now.
func (p *Prober) end(now time.Time, o outcome) {
	p.probing = false
	p.ended = now
	switch o {
	case failed:
		p.wait = min(2*p.wait, p.cfg.MaxInterval)
	case succeeded:
		p.wait = p.cfg.Interval
	}
}

// Next returns the probe padding to send from now until the next call, in
// bit/s on top of the media, given the subscriber's bandwidth estimate,
// the media being sent (bit/s) and target, the budget at which the
// allocation would give some track more (Allocation.Next; 0 when no track
// is Limited). Call it every time the allocation runs (~500 ms, well
// under Duration) and when the estimate changes; a padding sender that
// is not told again stops at Until.
func (p *Prober) Next(now time.Time, estimate, sending, target int) (probe int) {
	p.setup(now)
	estimate, sending = max(estimate, 0), max(sending, 0)
	if float64(estimate) < float64(p.peak)*(1-p.cfg.DropTolerance) {
		p.peak = estimate
		p.stableSince = now
		if p.probing {
			p.end(now, failed)
		}
	} else if estimate > p.peak {
		p.peak = estimate
	}

	if p.probing {
		el := now.Sub(p.start)
		switch {
		case target <= estimate:
			p.end(now, succeeded)
		case el >= p.cfg.Duration || el < 0:
			if float64(estimate) >= float64(p.startEst)*(1+p.cfg.SuccessGain) {
				p.end(now, succeeded)
			} else {
				p.end(now, failed)
			}
		}
	}
	if !p.probing {
		switch {
		case target <= estimate || sending > estimate || estimate == 0:
			return 0
		case now.Sub(p.stableSince) < p.cfg.StableFor:
			return 0
		case !p.ended.IsZero() && now.Sub(p.ended) < p.wait:
			return 0
		}
		p.probing = true
		p.start, p.startEst = now, estimate
	}
	return p.rate(estimate, sending, target)
}

// rate is the padding that brings sending up to target, within the
// bounds on the overhead and the total.
func (p *Prober) rate(estimate, sending, target int) int {
	e := float64(estimate)
	total := math.Min(float64(target), e*p.cfg.MaxTotal)
	probe := math.Min(total-float64(sending), e*p.cfg.MaxOverhead)
	if !(probe > 0) {
		return 0
	}
	return int(probe)
}

// Lost tells the prober that the subscriber reported loss (fraction, 0
// to 1, as in an RTCP receiver report) or that the estimate dropped (pass
// 1). A running cluster stops at once and the next waits twice as long;
// outside a cluster, loss above LossTolerance restarts the stable period.
func (p *Prober) Lost(now time.Time, fraction float64) {
	p.setup(now)
	if !(fraction > 0) {
		return
	}
	if p.probing {
		p.end(now, failed)
		p.stableSince = now
		return
	}
	if fraction > p.cfg.LossTolerance {
		p.stableSince = now
	}
}

// Probing reports whether a probe cluster is running.
func (p *Prober) Probing() bool { return p.probing }

// Until returns when the running cluster ends at the latest; the zero
// time when none is running.
func (p *Prober) Until() time.Time {
	if !p.probing {
		return time.Time{}
	}
	return p.start.Add(p.cfg.Duration)
}
