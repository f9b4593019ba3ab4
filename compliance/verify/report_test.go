package verify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/compliance"
)

func volumeRuns(lowW, highW uint64, lowE, highE int, lowMedia, highMedia uint64) []VolumeRun {
	return []VolumeRun{
		{Name: "low", ServerWriteBytes: lowW, ServerEvents: lowE, Media: Media{ReceivedBytes: lowMedia}},
		{Name: "high", ServerWriteBytes: highW, ServerEvents: highE, Media: Media{ReceivedBytes: highMedia}},
	}
}

func TestCheckVolume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		runs []VolumeRun
		fail string // "" when the rule holds
	}{
		{"nothing written", volumeRuns(0, 0, 0, 0, 1e6, 1e7), ""},
		{"noise under the floor", volumeRuns(0, 60<<10, 0, 40, 1e6, 1e7), ""},
		{"grows past the floor", volumeRuns(0, 70<<10, 0, 0, 1e6, 1e7), "disk writes grow with media"},
		{"twice the low run", volumeRuns(100_000, 200_000, 0, 0, 1e6, 1e7), ""},
		{"more than twice", volumeRuns(100_000, 200_001, 0, 0, 1e6, 1e7), "disk writes grow with media"},
		{"events grow", volumeRuns(0, 0, 10, 65, 1e6, 1e7), "file writes grow with media"},
		{"media did not grow", volumeRuns(0, 0, 0, 0, 1e6, 3e6), "volume comparison is void"},
		{"one run", volumeRuns(0, 0, 0, 0, 1, 10)[:1], "needs both runs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &verifier{rep: &Report{Runs: tt.runs, Watcher: WatcherInfo{Ran: true}}}
			v.checkVolume()
			got := strings.Join(v.rep.Problems, "; ")
			if (tt.fail == "") != (got == "") || !strings.Contains(got, tt.fail) {
				t.Fatalf("failures %q, want %q", got, tt.fail)
			}
			if tt.fail == "" && !v.rep.Volume.Pass {
				t.Fatal("Pass false without a failure")
			}
		})
	}
}

func caughtControl() *ControlResult {
	found := ScanResult{Count: 1, Matches: []Match{{Encoding: EncRaw}}}
	return &ControlResult{FanotifyEvents: 3, FileScan: found, OutputScan: found, WriteBytes: 8192, WritableFD: true}
}

func TestScannersNeedThePositiveControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		watcher bool
		mutate  func(c *ControlResult)
		missed  string
	}{
		{"all caught", true, func(*ControlResult) {}, ""},
		{"fanotify missed", true, func(c *ControlResult) { c.FanotifyEvents = 0 }, "fanotify"},
		{"fanotify did not run", false, func(c *ControlResult) { c.FanotifyEvents = 0 }, ""},
		{"file scan missed", true, func(c *ControlResult) { c.FileScan = ScanResult{} }, "file-scan"},
		{"output scan missed", true, func(c *ControlResult) { c.OutputScan = ScanResult{} }, "output-scan"},
		{"write_bytes too small", true, func(c *ControlResult) { c.WriteBytes = 100 }, "write_bytes"},
		{"fd not seen", true, func(c *ControlResult) { c.WritableFD = false }, "fd-scan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			second := caughtControl()
			tt.mutate(second)
			v := &verifier{rep: &Report{Watcher: WatcherInfo{Ran: tt.watcher},
				controls: []*ControlResult{caughtControl(), second}}}
			v.scanners()
			got := strings.Join(v.rep.Problems, "; ")
			if tt.missed == "" && got != "" {
				t.Fatalf("failures %q", got)
			}
			if tt.missed != "" && !strings.Contains(got, "instrument broken: "+tt.missed) {
				t.Fatalf("failures %q, want %s missed", got, tt.missed)
			}
		})
	}
	// No control at all: nothing was proven.
	v := &verifier{rep: &Report{Watcher: WatcherInfo{Ran: true}}}
	v.scanners()
	if len(v.rep.Problems) != 5 {
		t.Fatalf("without controls: %q", v.rep.Problems)
	}
}

func TestCheckRuns(t *testing.T) {
	t.Parallel()
	good := VolumeRun{Name: "low", Media: Media{ReceivedPackets: 10, CanaryPackets: 9},
		Processes: []ProcIO{{PID: 1, Role: "control", Delta: compliance.IO{WriteBytes: 4096}}, {PID: 2, Role: "worker"}}}
	tests := []struct {
		name   string
		mutate func(r *VolumeRun)
		fail   string
	}{
		{"clean", func(*VolumeRun) {}, ""},
		{"no canary came back", func(r *VolumeRun) { r.Media.CanaryPackets = 0 }, "no media carrying the canary"},
		{"worker wrote", func(r *VolumeRun) { r.Processes[1].Delta.WriteBytes = 4096 }, "media worker 2 made 4096 bytes"},
		{"worker died", func(r *VolumeRun) { r.Processes[1].Note = "exited during the run: its counters are lost" }, "server process 2 exited"},
		{"run error", func(r *VolumeRun) { r.Err = "join refused" }, "did not complete: join refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := good
			r.Processes = append([]ProcIO(nil), good.Processes...)
			tt.mutate(&r)
			v := &verifier{rep: &Report{Runs: []VolumeRun{r}}}
			v.checkRuns()
			got := strings.Join(v.rep.Problems, "; ")
			if (tt.fail == "") != (got == "") || !strings.Contains(got, tt.fail) {
				t.Fatalf("failures %q, want %q", got, tt.fail)
			}
		})
	}
}

func TestReportText(t *testing.T) {
	t.Parallel()
	rep := &Report{
		Verdict: Fail, Findings: compliance.Findings{Problems: []string{"the canary is in /x"}}, Runs: volumeRuns(0, 8192, 0, 2, 1e6, 1e7),
		Files: FilesSummary{Leaks: []FileScan{{Path: "/x", Result: ScanResult{Count: 2, Matches: []Match{{Encoding: EncBase64, Offset: 7}}}}}},
	}
	rep.Runs[1].Control = caughtControl()
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Lethe compliance verify: FAIL", "LEAK: /x", "FOUND 2x, first base64 at 7", "Verdict: FAIL", "8192 B"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
	// The JSON report never carries captured output.
	j, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), "stdout") || strings.Contains(string(j), "stderr") {
		t.Fatalf("JSON carries captured output: %s", j)
	}
}
