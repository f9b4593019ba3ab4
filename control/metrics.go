package control

import (
	"bytes"
	"time"
)

// joinedPrefix starts every joined message: signaling.Encode writes the
// type first.
var joinedPrefix = []byte(`{"type":"joined"`)

// noteJoined reports the join latency when raw, on its way to the
// client, is the joined its join waits for. Once per join; every other
// message costs an atomic load.
func (c *conn) noteJoined(raw []byte) {
	at := c.joinAt.Load()
	if at == 0 || !bytes.HasPrefix(raw, joinedPrefix) || !c.joinAt.CompareAndSwap(at, 0) {
		return
	}
	if f := c.s.cfg.JoinLatency; f != nil {
		f(time.Duration(c.s.cfg.Now().UnixNano() - at))
	}
}
