package control

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A child started with Pdeathsig through the fork thread survives the end
// of the thread that asked for it: that thread is not its parent thread.
func TestForkThreadOutlivesTheAskingThread(t *testing.T) {
	ft := newForkThread()
	defer ft.stop()
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		errc <- ft.start(cmd)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the child died with the thread that asked for it: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	_ = cmd.Process.Kill()
	<-exited
}

func TestForkThreadStopped(t *testing.T) {
	ft := newForkThread()
	ft.stop()
	ft.stop()
	if err := ft.start(exec.Command("true")); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("start after stop: %v, want ErrPoolClosed", err)
	}
}
