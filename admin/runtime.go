package admin

import "context"

// ProcessJSON describes one process of the server: the control process
// or a media worker. Counts and bytes only: nothing about users or rooms.
type ProcessJSON struct {
	Role  string `json:"role"`            // "control" or "worker"
	Index int    `json:"index"`           // the worker's index; 0 for the control process
	PID   int    `json:"pid"`             // its process id on the server's host
	Error string `json:"error,omitempty"` // why the figures below are missing, if they are

	// From /proc, read by the control process; -1 when it cannot read them.
	RSSBytes int64 `json:"rssBytes"` // resident memory
	FDs      int   `json:"fds"`      // open file descriptors

	// From the process's own Go runtime.
	Goroutines   int    `json:"goroutines"`
	HeapAlloc    uint64 `json:"heapAllocBytes"`    // live heap objects
	HeapInuse    uint64 `json:"heapInuseBytes"`    // in-use heap spans
	HeapIdle     uint64 `json:"heapIdleBytes"`     // idle heap spans
	HeapReleased uint64 `json:"heapReleasedBytes"` // idle spans returned to the OS
	Sys          uint64 `json:"sysBytes"`          // obtained from the OS in all
	NumGC        uint32 `json:"numGC"`             // garbage collections so far
	Sessions     int    `json:"sessions"`          // participants' sessions (control: WebSocket connections)
}

// RuntimeJSON is the reply of GET /v1/admin/runtime.
type RuntimeJSON struct {
	Processes []ProcessJSON `json:"processes"` // the control process first, then each worker
}

// Runtime reports every process of the server: memory, descriptors,
// goroutines and sessions, measured at request time
// (GET /v1/admin/runtime). It is what a soak test or an operator checks
// for leaks.
func (c *Client) Runtime(ctx context.Context) (RuntimeJSON, error) {
	var r RuntimeJSON
	err := c.do(ctx, "GET", "/v1/admin/runtime", nil, &r)
	return r, err
}

// RuntimeAfterGC is Runtime after every process has collected garbage and
// returned free memory to the OS (GET /v1/admin/runtime?gc=true), so heap
// and RSS show what is live. It costs each process a full collection.
func (c *Client) RuntimeAfterGC(ctx context.Context) (RuntimeJSON, error) {
	var r RuntimeJSON
	err := c.do(ctx, "GET", "/v1/admin/runtime?gc=true", nil, &r)
	return r, err
}
