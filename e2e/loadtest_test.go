package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `lethe loadtest --spawn` runs, reports, and sees no loss on loopback.
// A functional check only: its figures never decide whether tests pass.
func TestLoadtestRuns(t *testing.T) {
	leakCheck(t)
	for transport, says := range map[string]string{
		"udp":   "everyone over UDP",
		"tcp":   "everyone over ICE-TCP",
		"relay": "subscribers through the TURN relay over TCP",
	} {
		t.Run(transport, func(t *testing.T) { loadtestRun(t, transport, says) })
	}
}

// loadtestRun runs a short load over transport, whose report must say
// says, and checks every track arrived without loss.
func loadtestRun(t *testing.T, transport, says string) {
	out := filepath.Join(t.TempDir(), "report.json")
	warmup := "2s"
	if transport == "relay" {
		warmup = "4s" // TURN over TCP: an allocation after the handshake, before ICE checks
	}
	cmd := exec.Command(lethePath, "loadtest", "--spawn", "--rooms", "2", "--publishers", "1", "--subscribers", "3",
		"--duration", "2s", "--warmup", warmup, "--quiet", "--json", out, "--transport", transport)
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("loadtest: %v\n%s", err, text)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Total struct {
			Joined  int    `json:"joined"`
			Tracks  int    `json:"tracksReceived"`
			Packets uint64 `json:"packets"`
			Lost    uint64 `json:"lost"`
		} `json:"total"`
		Server *struct {
			ForwardedPackets uint64 `json:"forwardedPackets"`
		} `json:"server"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	// 2 rooms × (1 publisher sending audio+video → 3 subscribers).
	if rep.Total.Joined != 8 || rep.Total.Tracks != 12 || rep.Total.Packets == 0 {
		t.Fatalf("report: %+v\n%s", rep.Total, text)
	}
	if !strings.Contains(string(text), says) {
		t.Errorf("the report does not say %q:\n%s", says, text)
	}
	if rep.Total.Lost != 0 {
		t.Errorf("%d packets lost on loopback\n%s", rep.Total.Lost, text)
	}
	if rep.Server == nil || rep.Server.ForwardedPackets != rep.Total.Packets {
		t.Errorf("no server figures: %s", b)
	}
}

// Go subscribers on links of their own at 300 kbit/s, 1 Mbit/s and
// unlimited settle on the simulcast layer each link carries: q (150
// kbit/s), h (500 kbit/s) and f. What decides is the layer markers the
// subscribers' checkers read, at the end of the window, and the server's
// trackPaused events (a paused track is on no layer).
func TestLoadtestDownlinkClasses(t *testing.T) {
	leakCheck(t)
	out := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(lethePath, "loadtest", "--spawn", "--simulcast", "--subscribers", "3", "--classes", "0,1m,300k",
		"--warmup", "30s", "--duration", "5s", "--quiet", "--json", out)
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("loadtest: %v\n%s", err, text)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Classes []struct {
			DownlinkBps int   `json:"downlinkBps"`
			VideoTracks int   `json:"videoTracks"`
			LayerTracks []int `json:"layerTracks"`
			Paused      int   `json:"paused"`
			BadSwitches int   `json:"badSwitches"`
		} `json:"classes"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	want := map[int]int{0: 2, 1_000_000: 1, 300_000: 0} // downlink → layer
	if len(rep.Classes) != len(want) {
		t.Fatalf("classes %+v\n%s", rep.Classes, text)
	}
	for _, c := range rep.Classes {
		layer := want[c.DownlinkBps]
		on := 0
		if layer < len(c.LayerTracks) {
			on = c.LayerTracks[layer]
		}
		if c.VideoTracks != 1 || on != 1 || c.Paused != 0 {
			t.Errorf("downlink %d bit/s: video on layers %v (paused %d) of %d tracks, want it on layer %d\n%s",
				c.DownlinkBps, c.LayerTracks, c.Paused, c.VideoTracks, layer, text)
		}
	}
}
