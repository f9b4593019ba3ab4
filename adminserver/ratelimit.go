package adminserver

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit bounds the request rate of the admin API, globally and per
// remote IP address. Zero fields take the defaults below.
type RateLimit struct {
	PerSecond      float64 // all clients together; default 20
	Burst          int     // default 40
	PerIPPerSecond float64 // one remote IP; default 5
	PerIPBurst     int     // default 20
	// MaxIPs bounds the per-IP table; when it is full of recently seen
	// addresses, new addresses share one overflow limiter. Default 1024.
	MaxIPs int
}

// Default rate limits.
const (
	DefaultPerSecond      = 20
	DefaultBurst          = 40
	DefaultPerIPPerSecond = 5
	DefaultPerIPBurst     = 20
	DefaultMaxIPs         = 1024
)

// ipIdle is how long an address's limiter is kept after its last request.
// A limiter idle this long is full again, so forgetting it loses nothing.
const ipIdle = 10 * time.Minute

func (l RateLimit) withDefaults() RateLimit {
	if l.PerSecond <= 0 {
		l.PerSecond = DefaultPerSecond
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.PerIPPerSecond <= 0 {
		l.PerIPPerSecond = DefaultPerIPPerSecond
	}
	if l.PerIPBurst <= 0 {
		l.PerIPBurst = DefaultPerIPBurst
	}
	if l.MaxIPs <= 0 {
		l.MaxIPs = DefaultMaxIPs
	}
	return l
}

// limiter is a global token bucket and one bucket per remote IP.
type limiter struct {
	cfg    RateLimit
	global *rate.Limiter

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
		global:   rate.NewLimiter(rate.Limit(cfg.PerSecond), cfg.Burst),
		ips:      make(map[string]*ipLimiter),
		overflow: rate.NewLimiter(rate.Limit(cfg.PerIPPerSecond), cfg.PerIPBurst),
	}
}

// allow takes one token from the remote address's bucket and from the global
// bucket at now. If either is empty it takes none and returns how long to
// wait before retrying.
func (l *limiter) allow(remoteAddr string, now time.Time) (ok bool, retry time.Duration) {
	ipLim := l.forIP(remoteIP(remoteAddr), now)
	r := ipLim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	g := l.global.ReserveN(now, 1)
	if !g.OK() {
		r.CancelAt(now)
		return false, time.Second
	}
	if d := g.DelayFrom(now); d > 0 {
		g.CancelAt(now)
		r.CancelAt(now)
		return false, d
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
	e := &ipLimiter{lim: rate.NewLimiter(rate.Limit(l.cfg.PerIPPerSecond), l.cfg.PerIPBurst), seen: now}
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
