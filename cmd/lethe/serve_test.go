package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestServeConfigValidate(t *testing.T) {
	t.Parallel()
	base := func() serveConfig {
		return serveConfig{listen: "127.0.0.1:7880", udpHost: "127.0.0.1", udpPort: 7882, workers: 1,
			allowedHosts: "localhost,127.0.0.1,[::1]", maxConns: 10, maxConnsPerIP: 2, dtlsTimeout: time.Second,
			trackBitrate: 8_000_000, peerBitrate: -1}
	}
	good := base()
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	withTURN := base()
	withTURN.turn, withTURN.turnPort, withTURN.turnBitrate, withTURN.turnAllocations = true, 3478, -1, 4
	if err := withTURN.validate(); err != nil {
		t.Fatalf("the TURN defaults: %v", err)
	}
	for host, ok := range map[string]bool{"127.0.0.1:9": true, "localhost": true, "[::1]:7880": true, "evil.example": false} {
		if good.hosts.Allows(host) != ok {
			t.Errorf("default hosts allow %q: %v, want %v", host, !ok, ok)
		}
	}
	// The --listen host is allowed whatever --allowed-hosts says.
	only := base()
	only.allowedHosts, only.listen = "lethe.example", "[::1]:7880"
	if err := only.validate(); err != nil {
		t.Fatal(err)
	}
	if !only.hosts.Allows("[::1]:7880") || !only.hosts.Allows("lethe.example:7880") || only.hosts.Allows("localhost") {
		t.Error("--allowed-hosts lethe.example with --listen [::1]:7880")
	}
	for name, mod := range map[string]func(*serveConfig){
		"host with port":   func(c *serveConfig) { c.allowedHosts = "localhost:7880" },
		"URL":              func(c *serveConfig) { c.allowedHosts = "http://localhost" },
		"no connections":   func(c *serveConfig) { c.maxConns = 0 },
		"none per address": func(c *serveConfig) { c.maxConnsPerIP = -1 },
		"no DTLS timeout":  func(c *serveConfig) { c.dtlsTimeout = 0 },
		"zero bitrate":     func(c *serveConfig) { c.trackBitrate = 0 },
		"bitrate of -2":    func(c *serveConfig) { c.peerBitrate = -2 },
		"bitrate too high": func(c *serveConfig) { c.trackBitrate = 2_000_000_000 },
		"TURN port too high": func(c *serveConfig) {
			c.turn, c.turnPort, c.turnBitrate, c.turnAllocations = true, 65535, 1, 1
		},
		"TURN on the media ports": func(c *serveConfig) {
			c.turn, c.turnPort, c.turnBitrate, c.turnAllocations, c.workers = true, 7883, 1, 1, 2
		},
		"TURN bitrate 0":     func(c *serveConfig) { c.turn, c.turnPort, c.turnBitrate, c.turnAllocations = true, 3478, 0, 4 },
		"TURN allocations 0": func(c *serveConfig) { c.turn, c.turnPort, c.turnBitrate, c.turnAllocations = true, 3478, 1, 0 },
		"udp-host not an IP": func(c *serveConfig) { c.udpHost = "media.example" },
	} {
		c := base()
		mod(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A bad --allowed-hosts is a usage mistake, found before anything starts.
func TestServeBadAllowedHosts(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--allowed-hosts", "localhost:7880"}, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "without a port") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}
