package adminserver

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit bounds the request rate of the admin API. Requests that carry
// the admin key and requests that do not are counted apart, so that a
// flood of wrong keys never makes the operator's requests fail: with the
// key, one bucket for all clients together; without it (no key, a wrong
// one), one bucket per remote IP address and one for all addresses
// together. Zero fields take the defaults below.
type RateLimit struct {
	PerSecond float64 // requests with the admin key, all clients together; default 20
	Burst     int     // default 40
	// FailedPerSecond bounds requests without a valid key, all addresses
	// together; default 5.
	FailedPerSecond      float64
	FailedBurst          int     // default 20
	FailedPerIPPerSecond float64 // requests without a valid key from one address; default 1
	FailedPerIPBurst     int     // default 10
	// MaxIPs bounds the per-IP table; when it is full of recently seen
	// addresses, new addresses share one overflow limiter. Default 1024.
	MaxIPs int
}

// Default rate limits.
const (
	DefaultPerSecond            = 20
	DefaultBurst                = 40
	DefaultFailedPerSecond      = 5
	DefaultFailedBurst          = 20
	DefaultFailedPerIPPerSecond = 1
	DefaultFailedPerIPBurst     = 10
	DefaultMaxIPs               = 1024
)

// ipIdle is how long an address's limiter is kept after its last request.
// A limiter idle this long is full again, so forgetting it loses nothing.
const ipIdle = 10 * time.Minute

func (l RateLimit) withDefaults() RateLimit {
	for _, d := range []struct {
		p *float64
		v float64
	}{{&l.PerSecond, DefaultPerSecond}, {&l.FailedPerSecond, DefaultFailedPerSecond}, {&l.FailedPerIPPerSecond, DefaultFailedPerIPPerSecond}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	for _, d := range []struct {
		p *int
		v int
	}{{&l.Burst, DefaultBurst}, {&l.FailedBurst, DefaultFailedBurst}, {&l.FailedPerIPBurst, DefaultFailedPerIPBurst}, {&l.MaxIPs, DefaultMaxIPs}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	return l
}

// limiter is the bucket of requests with the key, and the global and
// per-IP buckets of requests without.
type limiter struct {
	cfg    RateLimit
	keyed  *rate.Limiter
	failed *rate.Limiter

	mu       sync.Mutex
	ips      map[string]*ipLimiter
	overflow *rate.Limiter
}

type ipLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(cfg RateLimit) *limiter {
	cfg = cfg.withDefaults()
	return &limiter{
		cfg:      cfg,
		keyed:    rate.NewLimiter(rate.Limit(cfg.PerSecond), cfg.Burst),
		failed:   rate.NewLimiter(rate.Limit(cfg.FailedPerSecond), cfg.FailedBurst),
		ips:      make(map[string]*ipLimiter),
		overflow: rate.NewLimiter(rate.Limit(cfg.FailedPerIPPerSecond), cfg.FailedPerIPBurst),
	}
}

// allowKeyed takes one token for a request that carries the admin key. If
// the bucket is empty it takes none and returns how long to wait.
func (l *limiter) allowKeyed(now time.Time) (ok bool, retry time.Duration) {
	return take(now, l.keyed)
}

// allowFailed takes one token from the remote address's bucket of failed
// requests and one from the global one. If either is empty it takes none
// and returns how long to wait before retrying.
func (l *limiter) allowFailed(remoteAddr string, now time.Time) (ok bool, retry time.Duration) {
	return take(now, l.forIP(remoteIP(remoteAddr), now), l.failed)
}

// take reserves one token of every limiter at now, or none.
func take(now time.Time, lims ...*rate.Limiter) (bool, time.Duration) {
	var taken []*rate.Reservation
	undo := func() {
		for _, r := range taken {
			r.CancelAt(now)
		}
	}
	for _, lim := range lims {
		r := lim.ReserveN(now, 1)
		if !r.OK() {
			undo()
			return false, time.Second
		}
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			undo()
			return false, d
		}
		taken = append(taken, r)
	}
	return true, 0
}

func (l *limiter) forIP(ip string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.ips[ip]; ok {
		e.seen = now
		return e.lim
	}
	if len(l.ips) >= l.cfg.MaxIPs {
		for k, e := range l.ips {
			if now.Sub(e.seen) >= ipIdle {
				delete(l.ips, k)
			}
		}
	}
	if len(l.ips) >= l.cfg.MaxIPs {
		return l.overflow
	}
	e := &ipLimiter{lim: rate.NewLimiter(rate.Limit(l.cfg.FailedPerIPPerSecond), l.cfg.FailedPerIPBurst), seen: now}
	l.ips[ip] = e
	return e.lim
}

// remoteIP is the host part of an http.Request's RemoteAddr. Forwarding
// headers are not trusted: the admin API listens on loopback.
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// retryAfter is the Retry-After header value for a wait of d: whole
// seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
