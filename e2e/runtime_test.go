package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// adminClient is an admin SDK client for s, with the admin key of its
// data dir.
func (s *server) adminClient(t *testing.T) *admin.Client {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(s.dataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(strings.TrimSuffix(s.url, "/v1/signal"), "ws://", "http://", 1)
	c, err := admin.New(base, string(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The admin API's runtime figures come from the real processes: the
// control process's own, and each worker's answer over its IPC link, with
// memory and descriptors read from /proc.
func TestAdminRuntime(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--workers", "2")
	api := s.adminClient(t)
	before, err := api.Runtime(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	p := s.join(t, "rt", 77, "")
	defer p.Close()
	after, err := api.Runtime(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range []admin.RuntimeJSON{before, after} {
		if len(rt.Processes) != 3 || rt.Processes[0].Role != "control" || rt.Processes[1].Role != "worker" || rt.Processes[2].Role != "worker" {
			t.Fatalf("processes %+v, want control and two workers", rt.Processes)
		}
		for _, pr := range rt.Processes {
			if pr.Error != "" || pr.PID <= 0 || pr.Goroutines <= 0 || pr.HeapAlloc == 0 || pr.Sys < pr.HeapInuse || pr.RSSBytes <= 0 {
				t.Errorf("%s %d: %+v", pr.Role, pr.Index, pr)
			}
			if os.Geteuid() == 0 && pr.FDs <= 0 {
				t.Errorf("%s %d: no descriptors read as root: %+v", pr.Role, pr.Index, pr)
			}
		}
	}
	pids := map[int]bool{}
	for _, w := range s.workerPIDs() {
		pids[w] = true
	}
	sessions := 0
	for _, pr := range after.Processes[1:] {
		if !pids[pr.PID] {
			t.Errorf("worker pid %d is not one of the server's workers %v", pr.PID, pids)
		}
		sessions += pr.Sessions
	}
	if sessions != 1 || after.Processes[0].Sessions != 1 {
		t.Errorf("sessions: control %d, workers %d; want 1 and 1", after.Processes[0].Sessions, sessions)
	}

	// Once the participant has left, every process is back to no session;
	// after a collection the heap holds what is live.
	if err := p.Leave(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		gone, err := api.RuntimeAfterGC(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, pr := range gone.Processes[1:] {
			n += pr.Sessions
		}
		if n == 0 {
			if w := gone.Processes[1]; w.HeapReleased == 0 || w.NumGC <= after.Processes[1].NumGC {
				t.Errorf("after a forced collection: %+v", w)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers still host %d sessions after the leave", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
