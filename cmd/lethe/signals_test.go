package main

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// The first signal ends the context, the second closes stopNow. (SIGUSR1
// stands for SIGTERM: a stray SIGTERM would end the test binary.)
func TestNotifyStop(t *testing.T) {
	ctx, stop := notifyStop(syscall.SIGUSR1)
	defer stop()
	now := stopNow(ctx)
	if now == nil {
		t.Fatal("no stopNow channel")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not end the context")
	}
	select {
	case <-now:
		t.Fatal("stopNow closed at the first signal")
	default:
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-now:
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not close stopNow")
	}
	if stopNow(context.Background()) != nil {
		t.Error("stopNow of a context without one is not nil")
	}
}
