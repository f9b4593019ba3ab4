package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
	"github.com/lethe-rtc/lethe/webhook"
)

// webhookLookup reads an app's callback target from the store for the
// dispatcher: none (or no app) is webhook.ErrNoWebhook.
func webhookLookup(st *store.Store) webhook.Lookup {
	return func(ctx context.Context, app uint32) (webhook.Target, error) {
		w, err := st.Webhook(ctx, app)
		if errors.Is(err, store.ErrNotFound) {
			return webhook.Target{}, webhook.ErrNoWebhook
		}
		if err != nil {
			return webhook.Target{}, err
		}
		return webhook.Target{URL: w.URL, Key: w.Key}, nil
	}
}

// appWebhook runs `lethe app webhook set|remove|test APP`.
func appWebhook(c *appRun, args []string) error {
	if len(args) == 0 {
		return errors.New("webhook: which action? set, remove or test")
	}
	action, args := args[0], args[1:]
	switch action {
	case "set":
		fs := c.flags()
		url := fs.String("url", "", "the callback URL (http or https)")
		keyFile := fs.String("key-file", "", "file holding the callback key (16-64 letters and digits), - for stdin; never on the command line")
		id, err := c.appArg(fs, args, "set APP --url URL --key-file FILE")
		if err != nil {
			return err
		}
		if *url == "" || *keyFile == "" {
			return errors.New("webhook set: give --url and --key-file")
		}
		key, err := readCallbackKey(*keyFile)
		if err != nil {
			return err
		}
		a, err := c.api.UpdateApp(c.ctx, id, admin.UpdateAppRequest{Webhook: &admin.WebhookPatch{URL: *url, Key: key}})
		if err != nil {
			return err
		}
		return show(c, a, printApp)
	case "remove":
		id, err := c.appArg(c.flags(), args, "remove APP")
		if err != nil {
			return err
		}
		a, err := c.api.UpdateApp(c.ctx, id, admin.UpdateAppRequest{Webhook: &admin.WebhookPatch{}})
		if err != nil {
			return err
		}
		return show(c, a, printApp)
	case "test":
		id, err := c.appArg(c.flags(), args, "test APP")
		if err != nil {
			return err
		}
		r, err := c.api.TestWebhook(c.ctx, id)
		if err != nil {
			return err
		}
		if c.json {
			if err := show(c, r, nil); err != nil {
				return err
			}
		} else if r.Delivered {
			if _, err := fmt.Fprintf(c.stdout, "test event delivered: the receiver answered %d\n", r.Status); err != nil {
				return err
			}
		}
		if !r.Delivered {
			return fmt.Errorf("test event not delivered: %s", r.Error)
		}
		return nil
	default:
		return fmt.Errorf("webhook: unknown action %q: set, remove or test", action)
	}
}

// readCallbackKey reads a callback key from path, or stdin for "-", without
// surrounding white space.
func readCallbackKey(path string) (string, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("callback key: %w", err)
	}
	key := string(bytes.TrimSpace(raw))
	clear(raw)
	if key == "" {
		return "", errors.New("callback key: the file is empty")
	}
	return key, nil
}
