package worker

import (
	"encoding/json"
	"sync"

	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

// Speakers sends the room's speakers list (protocol 3.11). The SFU gives
// every participant of a room the same slice, never changed; the message
// is encoded once for all of them (speakersCache), not once per session:
// an audience of thousands would otherwise cost thousands of encodings
// per list.
func (s *hostSession) Speakers(list []sfu.Speaker) {
	raw, err := s.h.speakers.encode(list)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.flushLocked()
	s.sendEventLocked(raw)
}

// speakersCache holds the encoding of the last speakers list, keyed by
// the list's first element: the SFU makes a new slice for each list, and
// the cache keeps the old one alive, so its address cannot come back for
// another list. Every empty list encodes alike.
type speakersCache struct {
	mu  sync.Mutex
	key *sfu.Speaker
	n   int
	raw json.RawMessage // shared by every session it is sent to: never changed
}

func (c *speakersCache) encode(list []sfu.Speaker) (json.RawMessage, error) {
	var key *sfu.Speaker
	if len(list) > 0 {
		key = &list[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw != nil && c.key == key && c.n == len(list) {
		return c.raw, nil
	}
	m := signaling.Speakers{Speakers: make([]signaling.Speaker, len(list))}
	for i, sp := range list {
		m.Speakers[i] = signaling.Speaker{ParticipantID: sp.ParticipantID, Level: sp.Level}
	}
	raw, err := signaling.Encode(signaling.TypeSpeakers, 0, m)
	if err != nil {
		return nil, err
	}
	c.key, c.n, c.raw = key, len(list), raw
	return raw, nil
}
