package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
	"github.com/lethe-rtc/lethe/web"
)

// webConfig is what mountWeb needs from serve.
type webConfig struct {
	store  *store.Store
	dev    bool // serve GET /v1/dev/token to loopback clients
	logger *slog.Logger
	now    func() time.Time // default time.Now
}

// mountWeb serves the demo page at "/", the browser client beside it and,
// with dev on, the dev-token endpoint, each under its own GET pattern.
func mountWeb(mux *http.ServeMux, cfg webConfig) {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	wc := web.Config{Logger: cfg.logger, Now: cfg.now}
	if cfg.dev {
		wc.DevToken = devMinter(cfg.store, cfg.now)
	}
	web.Mount(mux, wc)
}

// printWebBanner adds the demo page's address (base: scheme and host,
// http://127.0.0.1:7880) to serve's banner.
func printWebBanner(w io.Writer, base string, dev bool) {
	fmt.Fprintf(w, "  demo page:  %s/\n", base)
	fmt.Fprintf(w, "  whip, whep: %s/v1/whip (ingest), %s/v1/whep (playback; player page %s/whep.html)\n", base, base, base)
	if dev {
		fmt.Fprintf(w, "  dev mode:   GET %s mints tokens for loopback clients (never use --dev in production)\n", web.DevTokenPath)
	}
}

// devMinter signs dev tokens for the application named
// store.DefaultAppName with its current signing key, bound to the room
// asked for and carrying every privilege (so they also serve as the
// privateMapKey an application may require), for at most the request's
// TTL and the application's token lifetime cap.
func devMinter(st *store.Store, now func() time.Time) web.MintFunc {
	return func(ctx context.Context, r web.TokenRequest) (web.Token, error) {
		app, err := st.AppByName(ctx, store.DefaultAppName)
		if err != nil {
			return web.Token{}, fmt.Errorf("dev token: default app: %w", err)
		}
		if app.Status != store.StatusActive {
			return web.Token{}, fmt.Errorf("dev token: default app %d is %s", app.SDKAppID, app.Status)
		}
		t := now().Truncate(time.Second)
		key, err := st.SigningKey(ctx, app.SDKAppID, t)
		if err != nil {
			return web.Token{}, fmt.Errorf("dev token: signing key: %w", err)
		}
		ttl := min(r.TTL, web.MaxDevTokenTTL)
		if limit := app.Policy.MaxTokenTTL; limit > 0 {
			ttl = min(ttl, limit)
		}
		c := auth.Claims{
			SDKAppID: app.SDKAppID, UserID: r.UserID, RoomID: r.RoomID, StrRoomID: r.StrRoomID,
			IssuedAt: t, ExpiresAt: t.Add(ttl),
			Privileges: auth.PrivAll, HasPrivateMap: true,
		}
		sig, err := auth.SignJWT(key, c)
		if err != nil {
			return web.Token{}, fmt.Errorf("dev token: %w", err)
		}
		return web.Token{
			SDKAppID: app.SDKAppID, UserID: r.UserID, UserSig: sig,
			RoomID: r.RoomID, StrRoomID: r.StrRoomID, ExpiresAt: c.ExpiresAt.Unix(),
		}, nil
	}
}
