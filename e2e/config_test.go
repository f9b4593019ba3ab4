package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
)

// freePort is a loopback port of network ("tcp" or "udp") that was free
// a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	var addr net.Addr
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	var n int
	fmt.Sscan(port, &n)
	return n
}

// TestServeFromConfigFile: lethe serve --config takes its signaling port
// from the file and its media port from a LETHE_ variable that overrides
// the file; the command line overrides both. Two participants then
// exchange media on the server so configured.
func TestServeFromConfigFile(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	httpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	path := filepath.Join(dir, "lethe.yaml")
	file := fmt.Sprintf(`# written by TestServeFromConfigFile
listen: 127.0.0.1:%d
udp-port: 1          # overridden by LETHE_UDP_PORT
workers: 3           # overridden by --workers
allowed-hosts: [localhost, 127.0.0.1]
join-timeout: 20s
ice-tcp-port: 0      # any free port: tests run side by side
turn-port: 0
`, httpPort)
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, filepath.Join(dir, "data"), []string{fmt.Sprintf("LETHE_UDP_PORT=%d", udpPort)},
		"--config", path, "--workers", "1")

	if want := fmt.Sprintf("ws://127.0.0.1:%d/v1/signal", httpPort); s.url != want {
		t.Fatalf("signaling at %s, want %s (from the file)", s.url, want)
	}
	workers := regexp.MustCompile(`worker \d+:\s+pid \d+, media udp (\S+),`).FindAllStringSubmatch(s.stdout.String(), -1)
	if len(workers) != 1 || workers[0][1] != fmt.Sprintf("127.0.0.1:%d", udpPort) {
		t.Fatalf("workers %v, want one on udp 127.0.0.1:%d (LETHE_UDP_PORT):\n%s", workers, udpPort, s.stdout.String())
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s %s", resp.Status, body)
	}

	alice := s.join(t, "alice", 4242, "")
	alice.publishAV(t, false, client.SourceOptions{})
	bob := s.join(t, "bob", 4242, "")
	video := bob.firstVideo(t)
	deadline := time.Now().Add(15 * time.Second)
	for video.Stats().Packets < 20 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := video.Stats(); st.Packets < 20 || st.BadMarkers != 0 {
		t.Errorf("bob's video from alice: %+v", st)
	}
}

// TestServeConfigFileMistake: the real binary refuses a file with an
// unknown key, naming its line, exits 2 and starts nothing.
func TestServeConfigFileMistake(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:0\n\nudp-prot: 7882\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(lethePath, "serve", "--data-dir", data)
	cmd.Env = append(os.Environ(), "LETHE_CONFIG="+path)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2:\n%s", err, out)
	}
	if want := path + `:3: unknown key "udp-prot" (did you mean "udp-port"?)`; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data dir made by a serve that refused its configuration (stat: %v)", err)
	}
}
