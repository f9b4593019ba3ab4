package client

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Pion's warnings and errors reach the API's logger, with their scope;
// its debug and info chatter does not.
func TestPionLogs(t *testing.T) {
	var buf bytes.Buffer
	l := pionLogs{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("turnc")
	l.Debugf("debug %d", 1)
	l.Info("info")
	l.Tracef("trace")
	l.Warnf("refresh failed: %s", "broken pipe")
	l.Error("gone")
	out := buf.String()
	for _, want := range []string{"level=WARN msg=\"refresh failed: broken pipe\" pion=turnc", "level=ERROR msg=gone pion=turnc"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want 2 lines, got:\n%s", out)
	}
}
