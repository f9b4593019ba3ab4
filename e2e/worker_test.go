package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/signaling"
)

// The media worker, while it forwards media, holds no writable regular
// file, has no_new_privs, cannot dump core and is not dumpable — read from
// /proc from outside, not taken from its own report.
func TestWorkerIsLockedDown(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	if !strings.Contains(s.stdout.String(), "locked down (Landlock ABI") {
		t.Fatalf("banner does not report the lock-down:\n%s", s.stdout.String())
	}
	a := s.join(t, "alice", 1, "")
	if srv := a.joined.Server; !srv.Enforced || srv.Version == "" || len(srv.Warnings) != 0 {
		t.Errorf("joined.server = %+v, want enforced with a version and no warnings", srv)
	}
	a.publishAV(t, false, client.SourceOptions{})
	b := s.join(t, "bob", 1, "")
	select {
	case tr := <-b.tracks:
		checkTrack(t, tr)
	case <-time.After(10 * time.Second):
		t.Fatal("no media flowing")
	}

	pids := s.workerPIDs()
	if len(pids) != 1 {
		t.Fatalf("want 1 worker, found %v", pids)
	}
	for _, pid := range pids {
		files, err := compliance.WritableFiles(pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 0 {
			t.Errorf("worker %d holds writable files: %v", pid, files)
		}
		// No descriptor at all into the data dir: the worker has no store
		// handle and cannot read keys.
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, s.dataDir) {
				t.Errorf("worker %d holds %s", pid, target)
			}
		}
		if nnp, err := compliance.NoNewPrivs(pid); err != nil || !nnp {
			t.Errorf("worker %d NoNewPrivs = %v, %v", pid, nnp, err)
		}
		if d, err := compliance.Dumpable(pid); err != nil || d {
			t.Errorf("worker %d dumpable = %v, %v", pid, d, err)
		}
		if soft, hard, err := compliance.CoreLimit(pid); err != nil || soft != 0 || hard != 0 {
			t.Errorf("worker %d core limit = %d/%d, %v", pid, soft, hard, err)
		}
	}
	// An ordinary process, by contrast, is dumpable: the check can tell
	// the difference.
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait() }()
	if d, err := compliance.Dumpable(sleep.Process.Pid); err != nil || !d {
		t.Errorf("a plain sleep's dumpable = %v, %v; the check cannot tell", d, err)
	}
}

// A crashed worker is noticed: its participants are told and closed, a
// fresh worker replaces it, and rooms on the other worker carry on.
func TestWorkerCrash(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--workers", "2")
	before := s.workerPIDs()
	if len(before) != 2 {
		t.Fatalf("want 2 workers, found %v", before)
	}
	// Rooms go to the least busy worker: room 1 to worker 0, room 2 to worker 1.
	victim := s.join(t, "victim", 1, "")
	pub := s.join(t, "pub", 2, "")
	pub.publishAV(t, false, client.SourceOptions{})
	sub := s.join(t, "sub", 2, "")
	video := sub.firstVideo(t)

	worker0 := workerByIndex(t, s, 0)
	if err := syscall.Kill(worker0, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, victim.Client, signaling.TypeError, 10*time.Second, nil)
	if c := e.Data.(*signaling.Error).Code; c != signaling.CodeWorkerUnavailable {
		t.Errorf("victim got error %d, want %d", c, signaling.CodeWorkerUnavailable)
	}
	select {
	case <-victim.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("victim's connection not closed")
	}

	// Room 2 is untouched.
	n := video.Stats().Packets
	time.Sleep(time.Second)
	if m := video.Stats().Packets; m <= n {
		t.Fatalf("room 2 stopped receiving after worker 0 crashed: %d → %d", n, m)
	}
	if _, err := pub.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("room 2 publisher lost its connection: %v", err)
	}

	// A fresh worker replaces the dead one, and room 1 works again.
	deadline := time.Now().Add(15 * time.Second)
	for {
		after := s.workerPIDs()
		if len(after) == 2 && !slices.Contains(after, worker0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replacement worker: %v (before %v)", after, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	back := s.join(t, "victim2", 1, "")
	if len(back.joined.Room.Participants) != 0 {
		t.Fatalf("room 1 after the crash: %+v", back.joined.Room.Participants)
	}
}

// workerByIndex reads the worker's pid from the server's banner.
func workerByIndex(t *testing.T, s *server, idx int) int {
	t.Helper()
	for _, line := range strings.Split(s.stdout.String(), "\n") {
		var i, pid int
		if n, _ := fmt.Sscanf(line, "  worker %d:   pid %d,", &i, &pid); n == 2 && i == idx {
			return pid
		}
	}
	t.Fatalf("worker %d not in banner:\n%s", idx, s.stdout.String())
	return 0
}

// A second SIGTERM during a drain stops at once: every participant is
// told (3002, not the drain's 3003), workers exit, nothing is left.
func TestShutdown(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--drain-timeout", "1h")
	a := s.join(t, "alice", 1, "")
	a.publishAV(t, false, client.SourceOptions{})
	b := s.join(t, "bob", 1, "")
	workers := s.workerPIDs()
	s.signal(syscall.SIGTERM)
	s.waitLog(t, "draining")
	s.signal(syscall.SIGTERM)
	for _, p := range []*participant{a, b} {
		e := waitEvent(t, p.Client, signaling.TypeBye, 10*time.Second, nil)
		if c := e.Data.(*signaling.Bye).Code; c != signaling.CodeShuttingDown {
			t.Errorf("%s: bye code %d, want %d", p.user, c, signaling.CodeShuttingDown)
		}
	}
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exit code %d", code)
	}
	for _, pid := range workers {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("worker %d still running", pid)
		}
	}
}

// When the self-probe cannot prove the lock (here: a probe directory that
// does not exist, so the create fails with ENOENT rather than EACCES),
// serve refuses to start — unless the operator says --allow-unenforced,
// which is then shown at start and in every joined.
func TestUnenforcedLockDown(t *testing.T) {
	leakCheck(t)
	missing := filepath.Join(t.TempDir(), "missing")
	cmd := exec.Command(lethePath, "serve", "--data-dir", filepath.Join(t.TempDir(), "d"),
		"--listen", "127.0.0.1:0", "--udp-port", "0", "--turn-port", "0", "--probe-dir", missing)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started although the lock-down probe failed:\n%s", out)
	}
	if !strings.Contains(string(out), "refuses to start") || !strings.Contains(string(out), "ENOENT, want EACCES") {
		t.Fatalf("serve's error does not say why:\n%s", out)
	}

	s := startServer(t, "--probe-dir", missing, "--allow-unenforced")
	if !strings.Contains(s.stdout.String(), "NOT ENFORCED") || !strings.Contains(s.stdout.String(), "WARNING") {
		t.Errorf("banner does not warn:\n%s", s.stdout.String())
	}
	p := s.join(t, "alice", 1, "")
	if srv := p.joined.Server; srv.Enforced || len(srv.Warnings) == 0 {
		t.Errorf("joined.server = %+v, want enforced=false with warnings", srv)
	}
}
