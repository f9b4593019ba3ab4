package worker

import (
	"errors"

	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

// Data messages (docs/protocol.md 3.12): the SFU relays them on the
// participants' data channels; the host only opens them, says their
// limits in joined, and reports refusals. It never sees a message.

var _ sfu.DataEvents = (*hostSession)(nil)

// DataRejected tells the client that data messages it sent were dropped.
func (s *hostSession) DataRejected(reason error, dropped int) {
	c := dataCode(reason)
	s.event(signaling.TypeDataRejected, signaling.DataRejected{Code: c, Message: c.String() + ": " + dataReason(reason), Dropped: dropped})
}

// dataInfo is what joined says of the session's data channels, nil when
// it asked for none.
func (s *hostSession) dataInfo(peer Peer) *signaling.DataInfo {
	if !s.open.Data {
		return nil
	}
	info := &signaling.DataInfo{Send: !s.open.NoDataSend}
	if l, ok := peer.(interface{ DataLimits() sfu.DataLimits }); ok {
		d := l.DataLimits()
		info.MaxMessage, info.MessageRate, info.ByteRate = d.MaxMessage, d.MessageRate, d.ByteRate
	}
	return info
}

// dataCode is the client code of a data refusal; 0 if err is none.
func dataCode(err error) signaling.Code {
	switch {
	case errors.Is(err, sfu.ErrDataTooLarge):
		return signaling.CodeDataTooLarge
	case errors.Is(err, sfu.ErrDataRate), errors.Is(err, sfu.ErrDataRoomRate):
		return signaling.CodeDataRate
	case errors.Is(err, sfu.ErrDataNotAllowed):
		return signaling.CodeDataNotAllowed
	case errors.Is(err, sfu.ErrDataMalformed), errors.Is(err, sfu.ErrDataUnknownPeer):
		return signaling.CodeDataRefused
	}
	return 0
}

// dataReason words a refusal for the client.
func dataReason(err error) string {
	switch {
	case errors.Is(err, sfu.ErrDataTooLarge):
		return "a message over the size limit"
	case errors.Is(err, sfu.ErrDataRate):
		return "messages beyond your rate"
	case errors.Is(err, sfu.ErrDataRoomRate):
		return "messages beyond the room's rate"
	case errors.Is(err, sfu.ErrDataNotAllowed):
		return "your token does not grant sending data"
	case errors.Is(err, sfu.ErrDataUnknownPeer):
		return "a message addressed to a participant not in the room"
	}
	return "a malformed frame"
}
