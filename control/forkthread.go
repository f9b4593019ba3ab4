package control

import (
	"os/exec"
	"runtime"
	"sync"
)

// forkThread starts the worker processes, always from one OS thread that
// lives as long as the pool. The kernel sends a child its Pdeathsig when
// the thread that forked it ends, not the process; and Go ends a thread
// whenever a goroutine locked to it exits without unlocking (as a
// credential-changing probe of the attestation may have to). A worker
// forked from such a thread would be SIGKILLed at a random moment.
type forkThread struct {
	mu   sync.Mutex
	reqs chan func() // nil once stopped
	done chan struct{}
}

func newForkThread() *forkThread {
	t := &forkThread{reqs: make(chan func()), done: make(chan struct{})}
	reqs := t.reqs
	go func() {
		// Never unlocked: the thread ends with this goroutine, once the
		// pool has stopped and its workers are gone.
		runtime.LockOSThread()
		defer close(t.done)
		for f := range reqs {
			f()
		}
	}()
	return t
}

// start runs cmd.Start on the fork thread.
func (t *forkThread) start(cmd *exec.Cmd) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reqs == nil {
		return ErrPoolClosed
	}
	errc := make(chan error, 1)
	t.reqs <- func() { errc <- cmd.Start() }
	return <-errc
}

// stop ends the thread; later starts fail with ErrPoolClosed.
func (t *forkThread) stop() {
	t.mu.Lock()
	if t.reqs != nil {
		close(t.reqs)
		t.reqs = nil
	}
	t.mu.Unlock()
	<-t.done
}
