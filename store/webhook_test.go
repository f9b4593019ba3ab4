package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestWebhook: set, read, replace, remove; bounds; deleted at termination.
func TestWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Webhook(ctx, a.SDKAppID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("new app's webhook: err = %v, want ErrNotFound", err)
	}
	set := func(w Webhook) error {
		_, err := s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Webhook: &w}, testNow)
		return err
	}
	for _, bad := range []Webhook{
		{URL: "https://h/cb", Key: []byte("short")},
		{URL: "https://h/cb", Key: []byte(strings.Repeat("k", 65))},
		{URL: "https://h/" + strings.Repeat("a", 2048), Key: []byte("0123456789abcdef")},
	} {
		if err := set(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("set %q: err = %v, want ErrInvalid", bad.URL[:min(len(bad.URL), 20)], err)
		}
	}
	for _, w := range []Webhook{
		{URL: "https://h/one", Key: []byte("0123456789abcdef")},
		{URL: "https://h/two", Key: []byte("fedcba9876543210XY")},
	} {
		if err := set(w); err != nil {
			t.Fatal(err)
		}
		got, err := s.Webhook(ctx, a.SDKAppID)
		if err != nil || got.URL != w.URL || string(got.Key) != string(w.Key) {
			t.Fatalf("webhook %+v, %v; want %+v", got, err, w)
		}
	}
	if err := set(Webhook{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Webhook(ctx, a.SDKAppID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed webhook: err = %v, want ErrNotFound", err)
	}
	if err := set(Webhook{URL: "https://h/three", Key: []byte("0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TerminateApp(ctx, a.SDKAppID, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Webhook(ctx, a.SDKAppID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("terminated app's webhook: err = %v, want ErrNotFound", err)
	}
}
