package turnrelay

import (
	"net"
	"sync"
	"time"
)

// limitListener bounds the TURN-over-TCP connections of a listener: at
// most max at once (beyond, a new one is closed as it comes), each closed
// when it has been silent for idle (a client in a call sends ICE checks
// every few seconds), and all of them closed with the listener. pion/turn
// alone would keep every accepted connection, and its goroutine, for as
// long as the peer leaves it open.
type limitListener struct {
	net.Listener
	max  int
	idle time.Duration
	r    *Relay

	mu     sync.Mutex
	conns  map[*idleConn]struct{}
	closed bool
}

func newLimitListener(l net.Listener, max int, idle time.Duration, r *Relay) *limitListener {
	return &limitListener{Listener: l, max: max, idle: idle, r: r, conns: map[*idleConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.closed || len(l.conns) >= l.max {
			l.mu.Unlock()
			c.Close()
			l.r.stats.refusedConns.Add(1)
			continue
		}
		ic := &idleConn{Conn: c, l: l}
		l.conns[ic] = struct{}{}
		l.mu.Unlock()
		return ic, nil
	}
}

// Close closes the listener and every connection it accepted.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	all := make([]*idleConn, 0, len(l.conns))
	for c := range l.conns {
		all = append(all, c)
	}
	l.mu.Unlock()
	for _, c := range all {
		_ = c.Close()
	}
	return err
}

func (l *limitListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// idleConn is an accepted connection whose every read must come within
// the listener's idle time.
type idleConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *idleConn) Read(p []byte) (int, error) {
	// Deadlines are the kernel's clock, not the relay's injected one.
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.idle))
	return c.Conn.Read(p)
}

func (c *idleConn) Close() error {
	var err error
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}
