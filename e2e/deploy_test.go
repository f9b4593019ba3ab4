package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/syncbuf"
)

const unitFile = "../deploy/lethe.service"

// unitSetting is the value of the unit's key= line ("" if it has none).
func unitSetting(t *testing.T, unit, key string) string {
	t.Helper()
	for line := range strings.SplitSeq(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestSystemdUnit: deploy/lethe.service passes systemd-analyze verify
// (with ExecStart pointed at the binary under test), keeps the sandboxing
// that the no-storage promise leans on, and systemd's own assessment of
// its exposure stays where it is now (4.3 of 10, "OK").
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for key, want := range map[string]string{
		"ProtectSystem": "strict", "StateDirectory": "lethe", "ReadWritePaths": "/var/lib/lethe",
		"PrivateTmp": "yes", "ProtectHome": "yes", "PrivateDevices": "yes", "NoNewPrivileges": "yes",
		"MemoryDenyWriteExecute": "yes", "LimitCORE": "0", "LimitMEMLOCK": "infinity",
		"SystemCallArchitectures": "native", "KillMode": "mixed", "Restart": "on-failure",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK", "AmbientCapabilities": "",
	} {
		if got := unitSetting(t, unit, key); got != want {
			t.Errorf("%s=%s, want %s=%s", key, got, key, want)
		}
	}
	if !strings.Contains(unitSetting(t, unit, "ExecStart"), "--data-dir ${STATE_DIRECTORY}") {
		t.Errorf("ExecStart does not bind the data dir to the state directory: %s", unitSetting(t, unit, "ExecStart"))
	}
	// The stop timeout leaves the drain (30s by default) and the workers'
	// shutdown their time before systemd kills.
	if stop, err := time.ParseDuration(unitSetting(t, unit, "TimeoutStopSec")); err != nil || stop < 40*time.Second {
		t.Errorf("TimeoutStopSec=%s, want at least 40s", unitSetting(t, unit, "TimeoutStopSec"))
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd); the unit's settings were checked, not verified")
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "lethe.service")
	abs, err := filepath.Abs(lethePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(unit, "/usr/local/bin/lethe", abs)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--no-pager", local).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for lethe\.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security --offline: %v\n%s", err, out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 4.5 {
		t.Errorf("exposure level %.1f, was 4.3: which setting went?\n%s", level, out)
	}
}

// TestUnitPrivilegesSuffice runs lethe serve with what the unit gives it
// (root, its CapabilityBoundingSet only, no ambient capabilities,
// no_new_privs), through setpriv, since systemd is not this machine's
// init. The attestation, checked again from outside by lethe compliance
// status, must then find every process enforced: the workers became
// nobody, and the control process could still measure them.
func TestUnitPrivilegesSuffice(t *testing.T) {
	leakCheck(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setpriv (util-linux)")
	}
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	bounding := []string{"-all"}
	for c := range strings.FieldsSeq(unitSetting(t, string(data), "CapabilityBoundingSet")) {
		bounding = append(bounding, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(setpriv, "--bounding-set="+strings.Join(bounding, ","), "--inh-caps=-all", "--no-new-privs",
		lethePath, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--udp-port", "0")
	var stdout, stderr syncbuf.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(&stdout, sc.Text())
		}
	}()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("serve did not stop within 15s of SIGTERM")
		}
		<-scanned
	})
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); {
		if m := regexp.MustCompile(`signaling:\s+ws://(\S+)/v1/signal`).FindStringSubmatch(stdout.String()); m != nil {
			base = "http://" + m[1]
			break
		}
		select {
		case <-exited:
			t.Fatalf("serve exited under the unit's privileges:\n%s\n%s", stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if base == "" {
		t.Fatalf("serve did not start:\n%s\n%s", stdout.String(), stderr.String())
	}
	if !regexp.MustCompile(`worker 0: .* locked down \(.*uid 65534 gid 65534`).MatchString(stdout.String()) {
		t.Errorf("worker not locked down as nobody:\n%s", stdout.String())
	}
	out, err := exec.Command(lethePath, "compliance", "status", "--server", base,
		"--key-file", filepath.Join(dataDir, "auditor.key")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "VERDICT: ENFORCED") {
		t.Errorf("compliance status under the unit's privileges: %v\n%s", err, out)
	}
}
