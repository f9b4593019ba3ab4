package verify

import (
	"fmt"
	"slices"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
)

// Verdicts.
const (
	Pass    = "PASS"
	Fail    = "FAIL"
	Partial = "PARTIAL" // everything that ran passed, but an instrument could not run
)

// Volume rule: the high run may make the server write at most
// max(VolumeFloor, VolumeGrowth × what the low run made it write).
const (
	VolumeFloor       = 64 << 10
	VolumeGrowth      = 2
	EventFloor        = 64
	minMediaRatio     = VolumeFactor / 2
	controlMinWriteBy = 4096
)

// Report is the outcome of a verification. It never holds the canary or
// any media: matches are reported by offset and encoding.
type Report struct {
	Verdict string `json:"verdict"`
	// Findings: each of the Problems makes the verdict FAIL; the Notes
	// (an instrument partly blind, an output not scanned) do not.
	compliance.Findings

	Mode              string    `json:"mode"` // "fresh" or "attach"
	E2EE              bool      `json:"e2ee"` // the media was end-to-end encrypted (Config.E2EE)
	Version           string    `json:"version,omitempty"`
	Binary            string    `json:"binary"`
	BinarySHA256      string    `json:"binarySha256"`
	Started           time.Time `json:"started"`
	Finished          time.Time `json:"finished"`
	Duration          string    `json:"duration"`
	CanaryFingerprint string    `json:"canaryFingerprint"`

	Server   ServerInfo    `json:"server"`
	Scanners []Scanner     `json:"scanners"`
	Runs     []VolumeRun   `json:"runs"`
	Volume   VolumeCheck   `json:"volume"`
	Watcher  WatcherInfo   `json:"watcher"`
	Files    FilesSummary  `json:"files"`
	Output   OutputSummary `json:"output"`
	FDs      FDSummary     `json:"fds"`

	controls []*ControlResult
}

// ServerInfo names the server under test.
type ServerInfo struct {
	PID       int    `json:"pid"`
	Workers   []int  `json:"workers"`
	Processes []int  `json:"processes"` // every server process seen
	URL       string `json:"url"`
	DataDir   string `json:"dataDir"`
}

// Scanner says whether one instrument ran and caught the positive control.
type Scanner struct {
	Name    string `json:"name"`
	Ran     bool   `json:"ran"`
	Caught  bool   `json:"caughtControl"`
	Detail  string `json:"detail"`
	Finding string `json:"finding"` // what it found about the server
}

// VolumeRun is one volume of media.
type VolumeRun struct {
	Name         string    `json:"name"`
	VideoBitrate int       `json:"videoBitrate"`
	AudioBitrate int       `json:"audioBitrate"`
	MediaTime    string    `json:"mediaTime"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Err          string    `json:"error,omitempty"`
	Media        Media     `json:"media"`
	// Processes are the server's /proc/<pid>/io readings.
	Processes        []ProcIO `json:"processes"`
	ServerWriteBytes uint64   `json:"serverWriteBytes"`
	ServerWChar      uint64   `json:"serverWchar"`
	// ServerEvents and ServerFiles: what the watcher saw the server
	// processes write, on regular files, during the run.
	ServerEvents int      `json:"serverEvents"`
	ServerFiles  []string `json:"serverFiles"`
	// Control is the run's positive control; nil if it did not start.
	Control *ControlResult `json:"control"`
	// Memory: E2EE mode's scans of each server process's memory, taken
	// while the media flowed.
	Memory []MemoryScan `json:"memory,omitempty"`
}

// ProcIO is one server process's counters around a run.
type ProcIO struct {
	PID    int           `json:"pid"`
	Role   string        `json:"role"` // compliance.RoleControl (serve) or RoleWorker
	Before compliance.IO `json:"before"`
	After  compliance.IO `json:"after"`
	Delta  compliance.IO `json:"delta"`
	Note   string        `json:"note,omitempty"`
}

// ControlResult is what each scanner saw of one run's positive control.
type ControlResult struct {
	PID            int        `json:"pid"`
	File           string     `json:"file"`
	Leaked         int64      `json:"leakedBytes"` // as it says
	WriteBytes     uint64     `json:"writeBytes"`
	FanotifyEvents int        `json:"fanotifyEvents"`
	FileScan       ScanResult `json:"fileScan"`
	OutputScan     ScanResult `json:"outputScan"`
	WritableFD     bool       `json:"writableFd"`
	// MemoryScan (E2EE mode): the control's memory, which holds the
	// plaintext it decrypted.
	MemoryScan *MemoryScan `json:"memoryScan,omitempty"`

	Stdout []byte `json:"-"`
	Stderr []byte `json:"-"`
}

// VolumeCheck compares the two runs.
type VolumeCheck struct {
	LowWriteBytes  uint64  `json:"lowWriteBytes"`
	HighWriteBytes uint64  `json:"highWriteBytes"`
	WriteLimit     uint64  `json:"writeLimit"`
	LowEvents      int     `json:"lowEvents"`
	HighEvents     int     `json:"highEvents"`
	EventLimit     int     `json:"eventLimit"`
	MediaRatio     float64 `json:"mediaRatio"` // high/low received bytes
	// Sensitivity: the fraction of the high run's media that, stored,
	// would still fit under WriteLimit.
	Sensitivity float64 `json:"sensitivity"`
	Rule        string  `json:"rule"`
	Pass        bool    `json:"pass"`
}

// WatcherInfo summarises the fanotify log.
type WatcherInfo struct {
	Ran       bool     `json:"ran"`
	Marks     []Mark   `json:"marks"`
	Events    int      `json:"events"`
	Files     int      `json:"files"`
	Processes int      `json:"processes"`
	Overflows int      `json:"overflows"`
	Unkept    int      `json:"unkept"`
	Errors    []string `json:"errors,omitempty"`
}

// FilesSummary is the file scan.
type FilesSummary struct {
	Scanned      int      `json:"scanned"`
	BytesScanned int64    `json:"bytesScanned"`
	Truncated    int      `json:"truncated"`
	Gone         int      `json:"gone"`
	Errors       int      `json:"errors"`
	ByOthers     int      `json:"writtenByOthers"` // files written by unrelated processes, scanned too
	Walked       []string `json:"walked"`          // directories walked
	// ServerWritten are the files the server processes wrote.
	ServerWritten []FileScan `json:"serverWritten"`
	// Leaks are files holding the canary that are not a positive
	// control's: each one fails the verification.
	Leaks []FileScan `json:"leaks"`
	// ControlFiles are the positive controls' files.
	ControlFiles []FileScan `json:"controlFiles"`
}

// OutputSummary is the scan of what the server printed.
type OutputSummary struct {
	Captured bool       `json:"captured"`
	Note     string     `json:"note,omitempty"`
	Bytes    int64      `json:"bytes"`
	Result   ScanResult `json:"result"`
}

// FDSummary is what the descriptor sampler saw.
type FDSummary struct {
	Samples int `json:"samples"`
	// Writable maps a server pid to the writable regular files it held.
	Writable map[int][]string `json:"writable"`
}

func outputFinding(o OutputSummary) string {
	if !o.Captured {
		return o.Note
	}
	return fmt.Sprintf("server output: %d bytes, canary found: %v", o.Bytes, o.Result.Found())
}

func maps(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
