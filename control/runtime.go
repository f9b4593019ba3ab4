package control

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/internal/procfs"
	"github.com/lethe-rtc/lethe/signaling"
)

// Runtime measures the control process and its media workers for the
// admin API: memory and descriptors from /proc, Go runtime figures from
// each process itself (the workers answer over their IPC link).
type Runtime struct {
	Server *Server
	Pool   *Pool
	// Timeout bounds the wait for the workers' answers; default 2s.
	Timeout time.Duration
}

// Runtime reports every process, the control process first. With gc,
// each process first collects garbage and returns free memory to the OS.
func (r Runtime) Runtime(ctx context.Context, gc bool) admin.RuntimeJSON {
	if gc {
		debug.FreeOSMemory()
	}
	var self signaling.Stats
	self.ReadRuntime()
	if r.Server != nil {
		self.Sessions = r.Server.Connections()
	}
	out := admin.RuntimeJSON{Processes: []admin.ProcessJSON{processJSON("control", 0, os.Getpid(), self, nil)}}
	if r.Pool == nil {
		return out
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, w := range r.Pool.Stats(ctx, signaling.StatsRequest{GC: gc}) {
		out.Processes = append(out.Processes, processJSON("worker", w.Index, w.PID, w.Stats, w.Err))
	}
	return out
}

func processJSON(role string, index, pid int, st signaling.Stats, err error) admin.ProcessJSON {
	p := admin.ProcessJSON{
		Role: role, Index: index, PID: pid, RSSBytes: -1, FDs: -1,
		Goroutines: st.Goroutines, HeapAlloc: st.HeapAlloc, HeapInuse: st.HeapInuse, HeapIdle: st.HeapIdle,
		HeapReleased: st.HeapReleased, Sys: st.Sys, NumGC: st.NumGC, Sessions: st.Sessions,
	}
	if err != nil {
		p.Error = err.Error()
	}
	if rss, _ := procfs.Memory(pid); rss > 0 {
		p.RSSBytes = int64(rss)
	}
	if n, err := procfs.FDs(pid); err == nil {
		p.FDs = n
	}
	return p
}
