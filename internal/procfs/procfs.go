// Package procfs reads what a process uses from /proc: CPU time, resident
// memory, open descriptors, for a process and its descendants. It is what
// the control process reports of its workers and what the load generator
// (a client) measures of a server on the same machine; it runs wherever
// it is imported and imports nothing of the project. (The lock-down's
// stricter /proc parsers for the attestation are compliance's own.)
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// Sample is one reading of a process tree's resource use.
type Sample struct {
	CPUSeconds float64 // user + system time of every process in the tree
	RSSBytes   uint64  // resident memory now, summed
	PeakRSS    uint64  // high-water mark (VmHWM), summed
	Processes  int
	// The same of the tree's root alone (for a server: the control
	// process without its workers).
	RootCPUSeconds float64
	RootRSS        uint64
	RootPeakRSS    uint64
}

// SampleTree reads /proc for pid and its descendants.
func SampleTree(pid int) (Sample, error) {
	var s Sample
	for _, p := range tree(pid) {
		cpu, err := CPUSeconds(p)
		if err != nil {
			if p == pid {
				return s, err
			}
			continue // a child that just exited
		}
		rss, hwm := Memory(p)
		if p == pid {
			s.RootCPUSeconds, s.RootRSS, s.RootPeakRSS = cpu, rss, hwm
		}
		s.CPUSeconds += cpu
		s.RSSBytes += rss
		s.PeakRSS += hwm
		s.Processes++
	}
	return s, nil
}

// tree lists pid and its descendants.
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, field := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(field); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// CPUSeconds reads utime+stime from /proc/<pid>/stat.
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procfs: /proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procfs: /proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("procfs: /proc/%d/stat: bad times", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// Memory reads VmRSS and VmHWM (bytes) from /proc/<pid>/status; zeros
// when it cannot.
func Memory(pid int) (rss, hwm uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		}
	}
	return rss, hwm
}

// FDs counts the open file descriptors of pid. Reading another process's
// descriptors needs the right to trace it (root, or the same user and the
// process dumpable).
func FDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}
