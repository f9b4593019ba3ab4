package procfs

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// SampleTree reads this process and a child of it.
func TestSampleTree(t *testing.T) {
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	// Burn CPU until the kernel has counted some (its clock ticks are
	// 10 ms; on a busy machine 50 ms of wall time may hold none of ours).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if s, err := SampleTree(os.Getpid()); err == nil && s.RootCPUSeconds >= 0.02 {
			break
		}
		for spin := time.Now().Add(10 * time.Millisecond); time.Now().Before(spin); {
		}
	}
	s, err := SampleTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.Processes < 2 || s.CPUSeconds <= 0 || s.RSSBytes == 0 || s.PeakRSS < s.RSSBytes ||
		s.RootCPUSeconds <= 0 || s.RootCPUSeconds > s.CPUSeconds || s.RootRSS == 0 || s.RootRSS >= s.RSSBytes || s.RootPeakRSS < s.RootRSS {
		t.Fatalf("sample %+v", s)
	}
	if _, err := SampleTree(1 << 30); err == nil {
		t.Fatal("no error for a pid that does not exist")
	}
}

func TestFDs(t *testing.T) {
	n, err := FDs(os.Getpid())
	if err != nil || n < 3 {
		t.Fatalf("FDs = %d, %v; want at least stdin, stdout, stderr", n, err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m, _ := FDs(os.Getpid()); m <= n {
		t.Errorf("FDs after one more open = %d, was %d", m, n)
	}
	if _, err := FDs(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}
