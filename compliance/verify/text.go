package verify

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the human-readable report.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("Lethe compliance verify: %s\n\n", r.Verdict)
	p("  binary:  %s\n           sha256 %s", r.Binary, r.BinarySHA256)
	if r.Version != "" {
		p(", version %s", r.Version)
	}
	p("\n  server:  pid %d, workers %v (%s mode), data dir %s\n", r.Server.PID, r.Server.Workers, r.Mode, r.Server.DataDir)
	p("  canary:  %d random bytes in every media payload, fingerprint %s (never written by the verifier)\n", CanaryLen, r.CanaryFingerprint)
	if r.E2EE {
		p("  e2ee:    on: the participants encrypt every frame end to end; the server is never given the secret\n")
	}
	p("  time:    %s to %s, media %s in total\n\n", r.Started.Format("15:04:05"), r.Finished.Format("15:04:05"), r.Duration)

	p("Instruments: each must catch the positive control, a child of the verifier (never of the server)\n")
	p("that joins a room and stores and prints the media it receives.\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, s := range r.Scanners {
		state := "did not run"
		if s.Ran {
			state = "CAUGHT the control"
			if !s.Caught {
				state = "MISSED the control"
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, state, s.Finding)
	}
	_ = tw.Flush()

	p("\nRuns (same rooms and participants; media %dx apart):\n", VolumeFactor)
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(r VolumeRun) string) {
		fmt.Fprintf(tw, "  %s\t", label)
		for _, run := range r.Runs {
			fmt.Fprintf(tw, "%s\t", f(run))
		}
		fmt.Fprintln(tw)
	}
	row("", func(x VolumeRun) string { return x.Name })
	row("video / audio bitrate", func(x VolumeRun) string {
		return fmt.Sprintf("%s / %s", bps(x.VideoBitrate), bps(x.AudioBitrate))
	})
	row("media time", func(x VolumeRun) string { return x.MediaTime })
	row("rooms / participants / tracks", func(x VolumeRun) string {
		return fmt.Sprintf("%d / %d / %d", x.Media.Rooms, x.Media.Participants, x.Media.Tracks)
	})
	row("media sent", func(x VolumeRun) string { return size(x.Media.SentBytes) })
	row("media received", func(x VolumeRun) string {
		return fmt.Sprintf("%s (%d pkts)", size(x.Media.ReceivedBytes), x.Media.ReceivedPackets)
	})
	row("received packets with canary", func(x VolumeRun) string { return fmt.Sprint(x.Media.CanaryPackets) })
	if r.E2EE {
		row("e2ee: frames decrypted / with canary", func(x VolumeRun) string {
			return fmt.Sprintf("%d / %d", x.Media.DecryptedFrames, x.Media.CanaryFrames)
		})
		row("e2ee: server memory scanned / canary", func(x VolumeRun) string {
			var n int64
			found := 0
			for _, m := range x.Memory {
				n += m.Scanned
				found += m.Count
			}
			return fmt.Sprintf("%s / %d", size(uint64(n)), found)
		})
	}
	row("server write_bytes", func(x VolumeRun) string { return fmt.Sprintf("%d B", x.ServerWriteBytes) })
	row("server wchar (all writes, pipes too)", func(x VolumeRun) string { return size(x.ServerWChar) })
	row("server file write events", func(x VolumeRun) string { return fmt.Sprint(x.ServerEvents) })
	row("files written by the server", func(x VolumeRun) string { return fmt.Sprint(len(x.ServerFiles)) })
	row("control: stored / write_bytes", func(x VolumeRun) string {
		if x.Control == nil {
			return "-"
		}
		return fmt.Sprintf("%s / %s", size(uint64(x.Control.Leaked)), size(x.Control.WriteBytes))
	})
	row("control: events / file / output / fd", func(x VolumeRun) string {
		if x.Control == nil {
			return "-"
		}
		return fmt.Sprintf("%d / %d / %d / %v", x.Control.FanotifyEvents, x.Control.FileScan.Count,
			x.Control.OutputScan.Count, x.Control.WritableFD)
	})
	_ = tw.Flush()
	for _, run := range r.Runs {
		for _, pi := range run.Processes {
			if pi.Note != "" {
				p("  %s: pid %d (%s) %s\n", run.Name, pi.PID, pi.Role, pi.Note)
			}
		}
		if run.Media.Screen != "" && run.Name == "low" {
			p("  screen sub-stream: %s\n", run.Media.Screen)
		}
	}

	vc := r.Volume
	p("\nVolume rule: %s\n", vc.Rule)
	ok := map[bool]string{true: "ok", false: "EXCEEDED"}
	p("  write_bytes: high %d B, limit %d B: %s", vc.HighWriteBytes, vc.WriteLimit, ok[vc.HighWriteBytes <= vc.WriteLimit])
	if vc.Sensitivity > 0 {
		p(" (a server storing %.2f%% of the high run's media would exceed it)", 100*vc.Sensitivity)
	}
	p("\n")
	if r.Watcher.Ran {
		p("  write events: high %d, limit %d: %s\n", vc.HighEvents, vc.EventLimit, ok[vc.HighEvents <= vc.EventLimit])
	}
	p("  media ratio high/low: %.1f\n", vc.MediaRatio)

	p("\nFiles: %d scanned (%s)", r.Files.Scanned, size(uint64(r.Files.BytesScanned)))
	p(", %d written by unrelated processes, %d gone before the scan, %d over the size limit\n",
		r.Files.ByOthers, r.Files.Gone, r.Files.Truncated)
	if r.Watcher.Ran {
		p("  watcher: %d filesystems marked, %d write events, %d files, %d processes, %d overflows\n",
			countMarked(r.Watcher.Marks), r.Watcher.Events, r.Watcher.Files, r.Watcher.Processes, r.Watcher.Overflows)
	}
	p("  walked: %s\n", strings.Join(r.Files.Walked, ", "))
	p("  written by the server (%d):\n", len(r.Files.ServerWritten))
	for _, f := range r.Files.ServerWritten {
		p("    %s  (%s, canary: %s)\n", f.Path, size(uint64(f.Size)), found(f.Result))
	}
	for _, f := range r.Files.ControlFiles {
		p("  positive control: %s  (%s, canary: %s)\n", f.Path, size(uint64(f.Size)), found(f.Result))
	}
	for _, f := range r.Files.Leaks {
		p("  LEAK: %s  (%s, writers %v)\n", f.Path, found(f.Result), f.Writers)
	}
	if r.Output.Captured {
		p("\nServer output: %s captured, canary: %s\n", size(uint64(r.Output.Bytes)), found(r.Output.Result))
	} else {
		p("\nServer output: %s\n", r.Output.Note)
	}
	if len(r.Problems) > 0 {
		p("\nProblems:\n")
		for _, f := range r.Problems {
			p("  - %s\n", f)
		}
	}
	if len(r.Notes) > 0 {
		p("\nNotes:\n")
		for _, f := range r.Notes {
			p("  - %s\n", f)
		}
	}
	p("\nVerdict: %s\n", r.Verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

func found(r ScanResult) string {
	if !r.Found() {
		return "none"
	}
	m := r.Matches[0]
	return fmt.Sprintf("FOUND %dx, first %s at %d", r.Count, m.Encoding, m.Offset)
}

func countMarked(ms []Mark) int {
	n := 0
	for _, m := range ms {
		if m.Err == "" {
			n++
		}
	}
	return n
}

func bps(n int) string {
	if n >= 1_000_000 && n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	if n >= 1000 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func size(n uint64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
