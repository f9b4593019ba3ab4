package verify

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/e2ee"
)

// E2EE mode (Config.E2EE). The participants encrypt every frame end to
// end (protocol.md §3.13) with a room secret made for the run, which the
// server is never given: then no media the server handles may carry the
// canary readably — not the packets it forwards, not its processes'
// memory — while the participants, decrypting, find it in what they
// receive. The positive control is a participant with the secret: it
// stores the plaintext it decrypts, so the scanners must still catch it.

// newRoomSecret returns a random room secret, hex.
func newRoomSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// encryptor is participant p's frame encryptor; nil without E2EE.
func (s *session) encryptor(p *participant) *e2ee.Encryptor {
	if s.ring == nil {
		return nil
	}
	return s.ring.NewEncryptor(p.c.ParticipantID())
}

// frameReader decrypts tr's frames into the counts of r; nil without
// E2EE or for a codec without an E2EE layout.
func (s *session) frameReader(tr *webrtc.TrackRemote, r *receiver) *client.FrameReader {
	if s.ring == nil {
		return nil
	}
	fr, err := client.NewFrameReader(s.ring, tr.StreamID(), tr.Codec().MimeType)
	if err != nil {
		return nil
	}
	fr.OnFrame = func(_ uint32, plain []byte) {
		r.frames.Add(1)
		if s.m.Contains(plain) {
			r.canaryFrames.Add(1)
		}
	}
	return fr
}

// checkE2EERun: in E2EE mode the media came back through the server
// encrypted (no packet with the canary readable), the participants
// decrypted it and found the canary in it, and no server process held it
// in memory.
func (v *verifier) checkE2EERun(r *VolumeRun) {
	rep := v.rep
	m := r.Media
	if m.ReceivedPackets == 0 || m.CanaryFrames == 0 {
		rep.Problemf("run %s: no media carrying the canary came back through the server (%d packets, %d frames decrypted, %d with the canary)",
			r.Name, m.ReceivedPackets, m.DecryptedFrames, m.CanaryFrames)
	}
	if m.CanaryPackets != 0 {
		rep.Problemf("run %s: %d packets came back through the server with the canary readable: media not encrypted end to end",
			r.Name, m.CanaryPackets)
	}
	for _, ms := range r.Memory {
		switch {
		case ms.Found():
			rep.Problemf("run %s: the canary is in the memory of server process %d (%s, %d matches): with E2EE the server must never hold decodable media",
				r.Name, ms.PID, ms.Role, ms.Count)
		case ms.Err != "":
			rep.Notef("run %s: the memory of server process %d could not be scanned: %s", r.Name, ms.PID, ms.Err)
		}
	}
}
