package verify

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lethe-rtc/lethe/compliance"
)

// analyse turns the measurements into findings and a verdict.
func (v *verifier) analyse(wlog *WatchLog) {
	rep := v.rep
	v.mu.Lock()
	serverPIDs := maps(v.serverPIDs)
	workerPIDs := v.workerPIDs
	controls := v.controls
	writable := v.writable
	rep.FDs.Samples = v.samples
	v.mu.Unlock()
	rep.Server.Processes = serverPIDs
	for p := range workerPIDs {
		rep.Server.Workers = append(rep.Server.Workers, p)
	}
	slices.Sort(rep.Server.Workers)

	isControl := func(pid int) bool {
		if _, ok := controls[pid]; ok {
			return true
		}
		if wlog != nil {
			for c := range controls {
				if wlog.Procs[pid].DescendsFrom(c) {
					return true
				}
			}
		}
		return false
	}
	isServer := func(pid int) bool {
		return slices.Contains(serverPIDs, pid) ||
			(wlog != nil && wlog.Procs[pid].DescendsFrom(v.srv.pid))
	}
	isWorker := func(pid int) bool { return isServer(pid) && pid != v.srv.pid }
	class := func(pid int) string {
		switch {
		case isServer(pid):
			return "server"
		case isControl(pid):
			return "control"
		}
		return "other"
	}
	allowed := func(path string) bool { return within(path, v.dataDir) }
	outFiles := []string{}
	if v.cfg.Attach != nil {
		outFiles = outputFiles(v.srv.pid)
	}

	// The watcher.
	if wlog != nil {
		rep.Watcher = WatcherInfo{Ran: true, Marks: wlog.Marks, Events: len(wlog.Events) + wlog.Unkept,
			Files: len(wlog.Files), Processes: len(wlog.Procs), Overflows: wlog.Overflows,
			Unkept: wlog.Unkept, Errors: wlog.Errors}
		if wlog.Overflows > 0 {
			rep.Problemf("instrument incomplete: the fanotify queue overflowed %d times", wlog.Overflows)
		}
		if wlog.Unkept > 0 {
			rep.Notef("%d watcher events beyond the log's bound were counted per file only", wlog.Unkept)
		}
		for i := range rep.Runs {
			r := &rep.Runs[i]
			files := map[string]bool{}
			for _, e := range wlog.Events {
				f := wlog.Files[e.File]
				if e.At.Before(r.Start) || e.At.After(r.End) || !f.Regular {
					continue
				}
				if isServer(e.PID) {
					r.ServerEvents++
					files[f.Path] = true
				}
				if r.Control != nil && e.PID == r.Control.PID && f.Path == r.Control.File {
					r.Control.FanotifyEvents++
				}
			}
			r.ServerFiles = sortedKeys(files)
		}
	}

	// The file scan.
	v.scanFiles(wlog, class, isWorker, allowed, outFiles)

	// What the server printed.
	switch {
	case v.srv.cmd != nil:
		out := append(v.srv.stdout.Bytes(), v.srv.stderr.Bytes()...)
		rep.Output = OutputSummary{Captured: true, Bytes: int64(len(out)), Result: v.m.ScanBytes(out)}
		if d := v.srv.stdout.Dropped() + v.srv.stderr.Dropped(); d > 0 {
			rep.Problemf("instrument incomplete: %d bytes of server output beyond the capture limit were not scanned", d)
		}
		if rep.Output.Result.Found() {
			rep.Problemf("the canary is in the server's output (%s at offset %d)",
				rep.Output.Result.Matches[0].Encoding, rep.Output.Result.Matches[0].Offset)
		}
	case len(outFiles) > 0:
		rep.Output.Note = "attached: stdout/stderr are files, scanned as files: " + strings.Join(outFiles, ", ")
	default:
		rep.Output.Note = "attached: the server's output goes to a pipe or terminal the verifier cannot read"
		rep.Notef("the server's output was not scanned (attached to a running server)")
	}
	for _, c := range rep.controls {
		c.OutputScan = v.m.ScanBytes(append(c.Stdout, c.Stderr...))
	}

	// Descriptors.
	rep.FDs.Writable = map[int][]string{}
	for pid, files := range writable {
		if _, ok := controls[pid]; ok {
			for _, c := range rep.controls {
				if c.PID == pid && slices.Contains(files, c.File) {
					c.WritableFD = true
				}
			}
			continue
		}
		rep.FDs.Writable[pid] = files
		for _, f := range files {
			switch {
			case isWorker(pid):
				rep.Problemf("media worker %d held %s open for writing", pid, f)
			case !allowed(f) && !slices.Contains(outFiles, f):
				rep.Problemf("server process %d held %s open for writing, outside the data dir", pid, f)
			}
		}
	}

	v.checkRuns()
	v.checkVolume()
	v.scanners()
	rep.Verdict = verdict(rep)
}

// verdict is FAIL on any failure, PARTIAL when an instrument could not
// run, PASS otherwise.
func verdict(rep *Report) string {
	if !rep.OK() {
		return Fail
	}
	for _, s := range rep.Scanners {
		if !s.Ran {
			return Partial
		}
	}
	return Pass
}

// scanFiles scans every file written while the watcher ran and every
// recently changed file in the data dir and the temp directories.
func (v *verifier) scanFiles(wlog *WatchLog, class func(int) string, isWorker func(int) bool,
	allowed func(string) bool, outFiles []string,
) {
	rep := v.rep
	targets := map[[2]uint64]*FileScan{}
	var order [][2]uint64
	add := func(key [2]uint64, path, source string) *FileScan {
		f, ok := targets[key]
		if !ok {
			f = &FileScan{Path: path, dev: key[0], ino: key[1], Writers: map[string][]int{}}
			targets[key] = f
			order = append(order, key)
		}
		if !slices.Contains(f.Sources, source) {
			f.Sources = append(f.Sources, source)
		}
		return f
	}
	if wlog != nil {
		for _, wf := range wlog.Files {
			if !wf.Regular {
				continue
			}
			f := add([2]uint64{wf.Dev, wf.Ino}, wf.Path, "fanotify")
			f.fd = wf.fd
			for pid := range wf.Writers {
				c := class(pid)
				f.Writers[c] = append(f.Writers[c], pid)
				if c == "server" && isWorker(pid) {
					rep.Problemf("media worker %d wrote %s", pid, wf.Path)
				}
			}
		}
	}
	dirs := []struct {
		dir   string
		since time.Time
		src   string
	}{{v.dataDir, time.Time{}, "data-dir"}, {v.work, time.Time{}, "walk"}}
	for _, d := range []string{os.TempDir(), "/var/tmp", "/dev/shm"} {
		dirs = append(dirs, struct {
			dir   string
			since time.Time
			src   string
		}{d, rep.Started, "walk"})
	}
	for _, p := range outFiles { // an attached server's stdout/stderr
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			add([2]uint64{st.Dev, st.Ino}, p, "output")
		}
	}
	for _, d := range dirs {
		ws, err := walkFiles(d.dir, d.since)
		if err != nil {
			continue
		}
		rep.Files.Walked = append(rep.Files.Walked, d.dir)
		for _, w := range ws {
			f := add([2]uint64{w.dev, w.ino}, w.path, d.src)
			if f.fd == nil {
				f.Path = w.path
			}
		}
	}
	for _, key := range order {
		f := targets[key]
		v.m.scanFile(f, DefaultMaxFileScan)
		rep.Files.Scanned++
		rep.Files.BytesScanned += f.Result.Scanned
		if f.Result.Truncated {
			rep.Files.Truncated++
		}
		if f.Gone {
			rep.Files.Gone++
		}
		if f.Err != "" {
			rep.Files.Errors++
		}
		for c := range f.Writers {
			slices.Sort(f.Writers[c])
		}
		ctl := v.controlOf(f.Path)
		switch {
		case ctl != nil:
			rep.Files.ControlFiles = append(rep.Files.ControlFiles, *f)
			if f.Result.Found() {
				ctl.FileScan = f.Result
			}
		case f.Result.Found():
			rep.Files.Leaks = append(rep.Files.Leaks, *f)
			m := f.Result.Matches[0]
			rep.Problemf("the canary is in %s (%s at offset %d, %d matches; written by %v)",
				f.Path, m.Encoding, m.Offset, f.Result.Count, f.Writers)
		}
		if len(f.Writers["server"]) > 0 {
			rep.Files.ServerWritten = append(rep.Files.ServerWritten, *f)
			if !allowed(f.Path) && !slices.Contains(outFiles, f.Path) {
				rep.Problemf("the server wrote %s, outside its data dir", f.Path)
			}
		}
		if len(f.Writers["other"]) > 0 {
			rep.Files.ByOthers++
		}
		if f.Result.Truncated && len(f.Writers["server"]) > 0 {
			rep.Problemf("instrument incomplete: %s, written by the server, is larger than the scan limit", f.Path)
		}
	}
}

// controlOf returns the control whose leak file path is, if any.
func (v *verifier) controlOf(path string) *ControlResult {
	for _, c := range v.rep.controls {
		if strings.TrimSuffix(path, " (deleted)") == c.File {
			return c
		}
	}
	return nil
}

// checkRuns applies the per-run rules: media flowed and carried the
// canary, the workers wrote nothing, the control was caught.
func (v *verifier) checkRuns() {
	rep := v.rep
	for i := range rep.Runs {
		r := &rep.Runs[i]
		if r.Err != "" {
			rep.Problemf("run %s did not complete: %s", r.Name, r.Err)
			continue
		}
		switch {
		case v.cfg.E2EE:
			v.checkE2EERun(r)
		case r.Media.ReceivedPackets == 0 || r.Media.CanaryPackets == 0:
			rep.Problemf("run %s: no media carrying the canary came back through the server (%d packets, %d with the canary)",
				r.Name, r.Media.ReceivedPackets, r.Media.CanaryPackets)
		}
		for _, p := range r.Processes {
			if p.Note != "" && strings.HasPrefix(p.Note, "exited") {
				rep.Problemf("run %s: server process %d %s", r.Name, p.PID, p.Note)
			}
			if p.Role == compliance.RoleWorker && p.Delta.WriteBytes > 0 {
				rep.Problemf("run %s: media worker %d made %d bytes of disk writes (write_bytes)", r.Name, p.PID, p.Delta.WriteBytes)
			}
		}
	}
}

// checkVolume compares the server's disk writes at the two volumes.
//
// Both runs have the same rooms, participants, joins, tokens and
// duration; only the media bitrate differs, by VolumeFactor. What the
// server may legitimately write (store transactions, the application log)
// depends on the former, not on media. A server that stored a fraction f
// of what it received would write f × (high − low media) more in the
// high run. The limit max(VolumeFloor, VolumeGrowth × low) absorbs noise
// at page granularity — a SQLite WAL frame is a 4 KiB page plus its
// header, a checkpoint rewrites a few pages, a timer-driven key rotation
// may fall into either run — while the report states the stored fraction
// that would still pass (Sensitivity). The same rule applies to the count
// of write events the watcher attributes to the server.
func (v *verifier) checkVolume() {
	rep := v.rep
	vc := &rep.Volume
	vc.Rule = fmt.Sprintf("high-volume run: server write_bytes <= max(%d KiB, %d x low run); watcher write events <= max(%d, %d x low run); media received >= %d x low run",
		VolumeFloor>>10, VolumeGrowth, EventFloor, VolumeGrowth, minMediaRatio)
	if len(rep.Runs) != 2 || rep.Runs[0].Err != "" || rep.Runs[1].Err != "" {
		rep.Problemf("the volume comparison needs both runs")
		return
	}
	low, high := rep.Runs[0], rep.Runs[1]
	vc.LowWriteBytes, vc.HighWriteBytes = low.ServerWriteBytes, high.ServerWriteBytes
	vc.WriteLimit = max(VolumeFloor, VolumeGrowth*low.ServerWriteBytes)
	vc.LowEvents, vc.HighEvents = low.ServerEvents, high.ServerEvents
	vc.EventLimit = max(EventFloor, VolumeGrowth*low.ServerEvents)
	if low.Media.ReceivedBytes > 0 {
		vc.MediaRatio = float64(high.Media.ReceivedBytes) / float64(low.Media.ReceivedBytes)
	}
	if high.Media.ReceivedBytes > 0 {
		vc.Sensitivity = float64(vc.WriteLimit) / float64(high.Media.ReceivedBytes)
	}
	vc.Pass = true
	if vc.MediaRatio < minMediaRatio {
		vc.Pass = false
		rep.Problemf("the high run carried only %.1fx the media of the low run (want >= %d): the volume comparison is void", vc.MediaRatio, minMediaRatio)
	}
	if vc.HighWriteBytes > vc.WriteLimit {
		vc.Pass = false
		rep.Problemf("disk writes grow with media: the server wrote %d bytes at high volume, limit %d (low: %d)",
			vc.HighWriteBytes, vc.WriteLimit, vc.LowWriteBytes)
	}
	if rep.Watcher.Ran && vc.HighEvents > vc.EventLimit {
		vc.Pass = false
		rep.Problemf("file writes grow with media: the watcher saw %d server write events at high volume, limit %d (low: %d)",
			vc.HighEvents, vc.EventLimit, vc.LowEvents)
	}
}

// scanners fills the instrument table: each scanner must have caught
// every run's positive control.
func (v *verifier) scanners() {
	rep := v.rep
	ctls := rep.controls
	type check struct {
		name, detail string
		ran          bool
		caught       func(c *ControlResult) bool
		finding      string
	}
	ws := fmt.Sprintf("server write_bytes low %d, high %d", rep.Volume.LowWriteBytes, rep.Volume.HighWriteBytes)
	checks := []check{
		{"fanotify", "filesystem-wide marks; every file written and by which process", rep.Watcher.Ran,
			func(c *ControlResult) bool { return c.FanotifyEvents > 0 },
			fmt.Sprintf("%d files written by the server", len(rep.Files.ServerWritten))},
		{"file-scan", "canary in every file written or changed (raw, hex, decimal, base64 at any alignment)", true,
			func(c *ControlResult) bool { return c.FileScan.Found() },
			fmt.Sprintf("%d files scanned, %d with the canary", rep.Files.Scanned, len(rep.Files.Leaks))},
		{"output-scan", "canary in everything the processes printed", true,
			func(c *ControlResult) bool { return c.OutputScan.Found() },
			outputFinding(rep.Output)},
		{"write_bytes", "/proc/<pid>/io write_bytes before and after each run", !v.memTemp,
			func(c *ControlResult) bool { return c.WriteBytes >= controlMinWriteBy }, ws},
		{"fd-scan", "/proc/<pid>/fd + fdinfo: regular files open for writing, sampled", true,
			func(c *ControlResult) bool { return c.WritableFD },
			fmt.Sprintf("%d samples", rep.FDs.Samples)},
	}
	if v.cfg.E2EE {
		ran, found := false, 0
		for _, r := range rep.Runs {
			for _, m := range r.Memory {
				ran = ran || m.Regions > 0
				found += m.Count
			}
		}
		checks = append(checks, check{"memory-scan", "canary in the writable memory of every server process (/proc/<pid>/mem), while the media flows", ran,
			func(c *ControlResult) bool { return c.MemoryScan != nil && c.MemoryScan.Found() },
			fmt.Sprintf("%d matches in the server's memory", found)})
	}
	for _, c := range checks {
		s := Scanner{Name: c.name, Ran: c.ran, Detail: c.detail, Finding: c.finding}
		if c.ran {
			s.Caught = len(ctls) > 0
			for _, ctl := range ctls {
				s.Caught = s.Caught && c.caught(ctl)
			}
			if !s.Caught {
				rep.Problemf("instrument broken: %s did not catch the positive control", c.name)
			}
		}
		rep.Scanners = append(rep.Scanners, s)
	}
}
