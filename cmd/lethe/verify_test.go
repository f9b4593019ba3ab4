package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/compliance/verify"
)

func TestComplianceVerifyFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"too short", []string{"--duration", "1s", "--allow-partial"}, "duration must be between"},
		{"attach without url", []string{"--pid", "1", "--data-dir", "/tmp", "--allow-partial"}, "attaching needs"},
		{"attach without pid", []string{"--url", "ws://127.0.0.1:1/v1/signal", "--data-dir", "/tmp", "--allow-partial"}, "attaching needs"},
		{"too many rooms", []string{"--rooms", "17", "--allow-partial"}, "rooms must be"},
		{"argument", []string{"extra"}, "unexpected argument"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"big app", []string{"--app", "4294967296"}, "32-bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := complianceVerifyCommand(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("printed a report: %s", stdout.String())
			}
		})
	}
}

// TestComplianceVerifyBinary runs the real built binary, as CI does:
// `lethe compliance verify --duration 4s` must PASS, with every scanner
// having caught the positive control.
func TestComplianceVerifyBinary(t *testing.T) { testComplianceVerifyBinary(t, false) }

// TestComplianceVerifyBinaryE2EE is the same with --e2ee: the media is
// end-to-end encrypted, no packet the server sends back and nothing in
// any server process's memory (six scanners now) may hold the canary,
// while the participants find it in the frames they decrypt.
func TestComplianceVerifyBinaryE2EE(t *testing.T) { testComplianceVerifyBinary(t, true) }

func testComplianceVerifyBinary(t *testing.T, e2ee bool) {
	if testing.Short() {
		t.Skip("skipped in -short mode: runs Lethe and media for about 15 s")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: lethe compliance verify needs root for fanotify; CI runs this test as root")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "lethe")
	build := exec.Command("go", "build", "-o", exe, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, _ := exec.Command(exe, "compliance", "verify", "-h").CombinedOutput(); !strings.Contains(string(out), "--duration") {
		t.Skip("skipped: this binary does not dispatch `lethe compliance verify` yet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	jsonPath := filepath.Join(dir, "report.json")
	args := []string{"compliance", "verify", "--duration", "4s", "--json", jsonPath, "--quiet"}
	if e2ee {
		args = append(args, "--e2ee")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("lethe compliance verify: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "Verdict: PASS") {
		t.Fatalf("no PASS verdict:\n%s", stdout.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep verify.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != verify.Pass || len(rep.Problems) != 0 {
		t.Fatalf("verdict %s, problems %q", rep.Verdict, rep.Problems)
	}
	if want := 5 + btoi(e2ee); len(rep.Scanners) != want {
		t.Fatalf("%d scanners, want %d", len(rep.Scanners), want)
	}
	for _, s := range rep.Scanners {
		if !s.Ran || !s.Caught {
			t.Errorf("scanner %s: ran %v, caught the positive control %v", s.Name, s.Ran, s.Caught)
		}
	}
	if len(rep.Runs) != 2 || rep.Volume.MediaRatio < 5 {
		t.Fatalf("runs %+v, volume %+v", rep.Runs, rep.Volume)
	}
	for _, r := range rep.Runs {
		switch {
		case !e2ee && r.Media.CanaryPackets == 0:
			t.Errorf("run %s: no packet came back with the canary", r.Name)
		case e2ee && (r.Media.CanaryPackets != 0 || r.Media.CanaryFrames == 0 || len(r.Memory) < 2):
			t.Errorf("run %s (e2ee): %d packets with the canary readable, %d decrypted frames with it, %d processes' memory scanned",
				r.Name, r.Media.CanaryPackets, r.Media.CanaryFrames, len(r.Memory))
		}
		for _, m := range r.Memory {
			if m.Found() || m.Scanned == 0 {
				t.Errorf("run %s: memory of %d (%s): %d bytes scanned, %d matches", r.Name, m.PID, m.Role, m.Scanned, m.Count)
			}
		}
	}
	t.Logf("server write_bytes low %d, high %d (limit %d); events low %d, high %d; media ratio %.1f",
		rep.Volume.LowWriteBytes, rep.Volume.HighWriteBytes, rep.Volume.WriteLimit,
		rep.Volume.LowEvents, rep.Volume.HighEvents, rep.Volume.MediaRatio)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
