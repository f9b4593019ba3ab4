package sfu

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/internal/ratelog"
	"github.com/lethe-rtc/lethe/internal/syncbuf"
)

// Pion's errors reach the log once per kind, without their arguments;
// its warnings and below not at all.
func TestPionLogs(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	diag := ratelog.New(slog.New(slog.NewTextHandler(&buf, nil)), ratelog.Config{})
	f := pionLogs{diag: diag, attrs: []slog.Attr{slog.String(attrParticipant, "PA_x")}}
	l := f.NewLogger("pc")
	for i := range 1000 {
		l.Errorf("Incoming unhandled RTP ssrc(%d), OnTrack will not be fired. %v", i, "secret-ufrag")
		l.Warnf("Failed to accept RTP %v", i)
		l.Infof("info %d", i)
		l.Debug("debug")
		l.Trace("trace")
	}
	l.Error(strings.Repeat("x", 1000))
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out)
	}
	if want := `msg="pion: Incoming unhandled RTP ssrc(%d), OnTrack will not be fired. %v" pion=pc participant=PA_x`; !strings.Contains(lines[0], want) {
		t.Errorf("line %q does not contain %q", lines[0], want)
	}
	if strings.Contains(out, "secret-ufrag") || strings.Contains(out, "ssrc(1)") {
		t.Errorf("an argument reached the log:\n%s", out)
	}
	if len(lines[1]) > maxPionMessage+100 {
		t.Errorf("a long message was not cut: %d bytes", len(lines[1]))
	}
}
