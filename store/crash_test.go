package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
	"github.com/lethe-rtc/lethe/store/retention"
)

// crashEnv carries a crashSpec to the helper process.
const crashEnv = "LETHE_STORE_CRASH_SPEC"

// crashSpec tells the helper process what to do, and where to die.
type crashSpec struct {
	DB    string   `json:"db"`
	Op    string   `json:"op"` // terminate, delete or sweep
	Apps  []uint32 `json:"apps"`
	Now   int64    `json:"now"`
	Point string   `json:"point"` // "": no hook; the parent kills at random
}

var crashNow = time.Unix(1_750_000_000, 0).UTC()

// TestCrashHelper is the helper process of the kill tests: it does one
// lifecycle operation and SIGKILLs itself at the hook point named.
func TestCrashHelper(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("helper process of TestPurgeSurvivesKill")
	}
	var c crashSpec
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := store.Open(ctx, c.DB)
	if err != nil {
		t.Fatal(err)
	}
	store.SetHook(s, func(point string) {
		if point == c.Point {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	})
	now := time.Unix(c.Now, 0).UTC()
	fmt.Println("ready")
	for _, id := range c.Apps {
		switch c.Op {
		case "terminate":
			_, err = s.TerminateApp(ctx, id, now)
		case "delete":
			err = s.RequestDeletion(ctx, id, now)
		case "sweep":
			_, err = (&retention.Sweeper{Store: s, Now: func() time.Time { return now }}).Sweep(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// runHelper runs the helper with c and reports whether it was killed.
func runHelper(t *testing.T, c crashSpec, killAfter time.Duration) (killed bool) {
	t.Helper()
	spec, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(spec))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var rest strings.Builder
	for sc.Scan() {
		if sc.Text() == "ready" {
			if killAfter >= 0 {
				time.Sleep(killAfter)
				_ = cmd.Process.Kill() // SIGKILL
			}
			break
		}
		rest.WriteString(sc.Text() + "\n")
	}
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s%s", err, rest.String(), stderr.String())
	}
	return false
}

// canary makes an application with a name, tag, key id, secrets and log
// easy to find in raw bytes, and returns its id and canaries.
func canary(t *testing.T, s *store.Store, i int, retention time.Duration) (uint32, [][]byte) {
	t.Helper()
	ctx := context.Background()
	name, tag, kid := fmt.Sprintf("CANARY-NAME-%03d-e41f", i), fmt.Sprintf("CANARY-TAG-%03d-9c0d", i), fmt.Sprintf("CANARY-KID-%03d", i)
	a, err := s.CreateApp(ctx, name, []string{tag}, store.Policy{Retention: retention}, crashNow)
	if err != nil {
		t.Fatal(err)
	}
	secret := fmt.Appendf(nil, "CANARY-SECRET-%03d-0123456789abcdef", i)
	if err := s.AddKey(ctx, a.SDKAppID, auth.Key{ID: kid, Secret: secret, NotBefore: crashNow, NotAfter: crashNow.Add(time.Hour)}, crashNow); err != nil {
		t.Fatal(err)
	}
	k, err := s.SigningKey(ctx, a.SDKAppID, crashNow)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := s.AppendLog(ctx, a.SDKAppID, store.OpUserSigMint, crashNow); err != nil {
			t.Fatal(err)
		}
	}
	return a.SDKAppID, [][]byte{[]byte(name), []byte(tag), []byte(kid), secret, k.Secret}
}

// dbBytes is the database file, its WAL and its shared-memory file.
func dbBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestPurgeSurvivesKill kills a process at each point of a termination, a
// deletion request and a sweep, reopens the database, and checks that
// nothing is half done and that the sweeper then completes the purge,
// leaving no canary in the bytes of the database files.
func TestPurgeSurvivesKill(t *testing.T) {
	t.Parallel()
	const retain = time.Hour
	due := crashNow.Add(retain)
	for _, tc := range []struct {
		op, point  string
		terminated bool // terminated by the parent before the helper runs
	}{
		{"terminate", store.HookTerminateBeforeCommit, false},
		{"delete", store.HookDeletionScheduled, false},
		{"delete", store.HookPurgeBeforeCommit, false},
		{"delete", store.HookPurgeAfterCommit, true},
		{"sweep", store.HookPurgeBeforeCommit, true},
		{"sweep", store.HookPurgeAfterCommit, true},
	} {
		t.Run(tc.op+" "+tc.point, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), store.DBFile)
			s, err := store.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			keep, err := s.CreateApp(ctx, "keep", nil, store.Policy{}, crashNow)
			if err != nil {
				t.Fatal(err)
			}
			id, canaries := canary(t, s, 0, retain)
			if tc.terminated {
				if _, err := s.TerminateApp(ctx, id, crashNow); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if !runHelper(t, crashSpec{DB: path, Op: tc.op, Apps: []uint32{id}, Now: due.Unix(), Point: tc.point}, -1) {
				t.Fatal("the helper was not killed at its hook point")
			}

			if tc.point == store.HookPurgeAfterCommit && !bytes.Contains(dbBytes(t, path), canaries[0]) {
				// Committed but not checkpointed: the old pages are still in
				// the database file, and only the sweep's checkpoint clears them.
				t.Fatal("canary gone before the checkpoint: this case proves nothing")
			}
			s, err = store.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			a, err := s.App(ctx, id)
			pending, perr := s.PendingPurges(ctx)
			if perr != nil {
				t.Fatal(perr)
			}
			switch {
			case tc.op == "terminate":
				// Not committed: the app is as it was, keys and all.
				if err != nil || a.Status != store.StatusActive || len(pending) != 0 {
					t.Fatalf("after a kill before the termination committed: %+v, %v, pending %+v", a, err, pending)
				}
				if _, err := s.SigningKey(ctx, id, crashNow); err != nil {
					t.Fatalf("keys lost: %v", err)
				}
				if _, err := s.TerminateApp(ctx, id, crashNow); err != nil {
					t.Fatal(err)
				}
			case errors.Is(err, store.ErrNotFound):
				// Committed: only the checkpoint may be missing.
				if len(pending) != 0 {
					t.Fatalf("app purged but its purge still pending: %+v", pending)
				}
			case err == nil:
				// Not committed: the purge is still pending and due.
				if a.Status != store.StatusTerminated || len(pending) != 1 || pending[0].DueAt.After(due) {
					t.Fatalf("half-purged: %+v, pending %+v", a, pending)
				}
			default:
				t.Fatal(err)
			}

			sw := &retention.Sweeper{Store: s, Now: func() time.Time { return due }}
			if _, err := sw.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if d := sw.OldestOverdue(); d != 0 {
				t.Errorf("OldestOverdue = %v after the sweep", d)
			}
			if _, err := s.App(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("App after the sweep: err = %v, want ErrNotFound", err)
			}
			if _, err := s.App(ctx, keep.SDKAppID); err != nil {
				t.Errorf("the other app: %v", err)
			}
			raw := dbBytes(t, path)
			for _, c := range canaries {
				if bytes.Contains(raw, c) {
					t.Errorf("%q still in the database files", c)
				}
			}
		})
	}
}

// TestPurgeSurvivesRandomKill SIGKILLs a sweep of several applications at
// spread-out moments, wherever it happens to be (inside a transaction,
// between two, inside the checkpoint), then lets a new sweeper finish.
func TestPurgeSurvivesRandomKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("several helper processes")
	}
	const apps = 8
	due := crashNow.Add(time.Hour)
	killed := 0
	for i, after := range []time.Duration{0, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), store.DBFile)
		s, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var all [][]byte
		for j := range apps {
			id, canaries := canary(t, s, j, time.Hour)
			if _, err := s.TerminateApp(ctx, id, crashNow); err != nil {
				t.Fatal(err)
			}
			all = append(all, canaries...)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if runHelper(t, crashSpec{DB: path, Op: "sweep", Apps: []uint32{0}, Now: due.Unix()}, after) {
			killed++
		}
		s, err = store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		sw := &retention.Sweeper{Store: s, Now: func() time.Time { return due }}
		if _, err := sw.Sweep(ctx); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if apps, err := s.Apps(ctx); err != nil || len(apps) != 0 {
			t.Errorf("kill %d: %d apps left, %v", i, len(apps), err)
		}
		raw := dbBytes(t, path)
		for _, c := range all {
			if bytes.Contains(raw, c) {
				t.Errorf("kill %d: %q still in the database files", i, c)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of 6 helpers killed mid-sweep", killed)
}
