package main

import (
	"context"
	"os"
	"os/signal"
)

// notifyStop returns a context that ends at the first of sigs, carrying
// (stopNow) a channel closed at the second: a command that winds down
// gently at the first (serve drains) stops at once at the second. stop
// releases the signals.
func notifyStop(sigs ...os.Signal) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	ctx, cancel := context.WithCancel(context.Background())
	again := make(chan struct{})
	ctx = withStopNow(ctx, again)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		select {
		case <-ch:
			close(again)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

type stopNowKey struct{}

// withStopNow returns ctx carrying now (see stopNow).
func withStopNow(ctx context.Context, now <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopNowKey{}, now)
}

// stopNow is the channel that says a command must stop at once: closed
// at the second signal. Without one (tests) it is nil: never.
func stopNow(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stopNowKey{}).(<-chan struct{})
	return ch
}
