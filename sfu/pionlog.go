package sfu

import (
	"context"
	"log/slog"

	"github.com/lethe-rtc/lethe/internal/ratelog"
	"github.com/pion/logging"
)

// Keys of the SFU's attributes in log lines.
const (
	attrParticipant = "participant" // the SFU's participant id, never the user id
	attrSide        = "side"        // publisher or subscriber PeerConnection
	attrPion        = "pion"        // the Pion part that wrote the line
	attrPackets     = "packets"
)

// maxPionMessage bounds what a line keeps of a message of Pion's.
const maxPionMessage = 200

// pionLogs is the LoggerFactory of the SFU's Pion parts. Pion's own
// default logger writes every error to stderr as it comes, one line per
// undeclared SSRC a client sends on, say; this one writes through the
// SFU's rate-limited diagnostics: errors only (what Pion's default writes
// too), the first of each kind at once, the repeats counted per minute.
//
// A line never carries the arguments of a formatted message: they come
// from the network (ICE username fragments, SSRCs, candidate addresses)
// and, through error texts, sometimes from the client's SDP. The message
// is Pion's format string (e.g. "Incoming unhandled RTP ssrc(%d), OnTrack
// will not be fired. %v"), which also keys the rate limit, so that a
// client cannot make new kinds of line at will. Unformatted messages are
// Pion's own error texts, cut short.
type pionLogs struct {
	diag  *ratelog.Logger
	attrs []slog.Attr // whose PeerConnection: participant and side
}

var _ logging.LoggerFactory = pionLogs{}

// NewLogger returns the logger of one of Pion's parts (scope "pc", "ice",
// "dtls", ...).
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger { return pionLogger{f, scope} }

type pionLogger struct {
	pionLogs
	scope string
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}
func (pionLogger) Warn(string)           {}
func (pionLogger) Warnf(string, ...any)  {}

func (l pionLogger) Error(msg string)               { l.write(msg) }
func (l pionLogger) Errorf(format string, _ ...any) { l.write(format) }

func (l pionLogger) write(msg string) {
	if len(msg) > maxPionMessage {
		msg = msg[:maxPionMessage]
	}
	attrs := append([]slog.Attr{slog.String(attrPion, l.scope)}, l.attrs...)
	l.diag.Log(context.Background(), slog.LevelError, "pion "+l.scope+": "+msg, "pion: "+msg, attrs...)
}
