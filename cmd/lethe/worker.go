package main

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/worker"
)

func workerCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := worker.Config{Version: version}
	fs := newFlags("worker", "lethe worker [flags]",
		"Runs one media worker. `lethe serve` spawns it with a socketpair on fd 3; it is not run by hand.")
	fs.IntVar(&cfg.Index, "index", 0, "worker index")
	fs.StringVar(&cfg.UDP, "udp", "127.0.0.1:0", "media UDP address")
	fs.StringVar(&cfg.TCP, "ice-tcp", "", "ICE-TCP listener address, on the media UDP host (empty: no ICE-TCP)")
	fs.Func("public-ip", "an address advertised in place of the local ones of its family (NAT 1:1; repeatable)", func(v string) error {
		ip, err := netip.ParseAddr(v)
		cfg.PublicIPs = append(cfg.PublicIPs, ip)
		return err
	})
	fs.Func("ice-interface", "on an unspecified media host, gather candidates on this interface only (repeatable)", func(v string) error {
		cfg.Interfaces = append(cfg.Interfaces, v)
		return nil
	})
	fs.Func("ice-ip", "on an unspecified media host, gather candidates within this prefix or on this address only (repeatable)", func(v string) error {
		p, err := parsePrefix(v)
		cfg.Prefixes = append(cfg.Prefixes, p)
		return err
	})
	fs.BoolVar(&cfg.AllowUnenforced, "allow-unenforced", false, "run even if the lock-down cannot be enforced")
	fs.BoolVar(&cfg.Mlock, "mlock", true, "lock all memory (mlockall) so that media cannot be swapped out, where RLIMIT_MEMLOCK or CAP_IPC_LOCK allows")
	uid := fs.Int("uid", -1, "user id to switch to when started as root (set by serve)")
	gid := fs.Int("gid", -1, "group id to switch to when started as root (set by serve)")
	fs.Func("probe-read", "a path the lock-down self-probe must fail to open for reading (repeatable; serve passes its data dir)", func(v string) error {
		cfg.ReadProbes = append(cfg.ReadProbes, v)
		return nil
	})
	fs.BoolVar(&cfg.BatchWrites, "batch-writes", true, "send media with one sendmmsg per burst instead of one sendto per packet")
	fs.DurationVar(&cfg.EventWindow, "event-window", 50*time.Millisecond, "gather each participant's participant events this long and send them as one message (0: one message each)")
	fs.DurationVar(&cfg.ICEFailed, "ice-failed-timeout", 10*time.Second, "drop a participant whose media connection (ICE) has been silent this long, after a 3s grace")
	fs.DurationVar(&cfg.DTLSTimeout, "dtls-timeout", 10*time.Second, "drop a participant whose DTLS handshake is not done this long after its ICE connected")
	fs.BoolVar(&cfg.NoBandwidthEstimation, "no-bwe", false, "no downlink bandwidth estimation (sfu.Config.NoBandwidthEstimation)")
	fs.IntVar(&cfg.MaxTrackBitrate, "max-track-bitrate", 8_000_000, "bit/s of RTP a publisher may send on one track, over 1s; beyond is dropped (-1: no cap)")
	fs.IntVar(&cfg.MaxParticipantBitrate, "max-participant-bitrate", 20_000_000, "bit/s of RTP a publisher may send on all its tracks, over 1s; beyond is dropped (-1: no cap)")
	fs.IntVar(&cfg.DataMaxMessage, "data-max-message", 16384, "payload bytes of one data message (at most 65536)")
	fs.IntVar(&cfg.DataMessageRate, "data-rate", 50, "data messages a participant may send per second (-1: no limit)")
	fs.IntVar(&cfg.DataByteRate, "data-byte-rate", 256<<10, "payload bytes of data messages a participant may send per second (-1: no limit)")
	fs.IntVar(&cfg.DataRoomByteRate, "data-room-byte-rate", 1<<20, "payload bytes of data messages a room's participants may send per second together (-1: no limit)")
	fs.IntVar(&cfg.TURNPort, "turn-port", -1, "TURN relay port, UDP and TCP, on the media IP (0: any free port; -1: no relay); its secret comes over fd 3")
	fs.IntVar(&cfg.TURNTLSPort, "turn-tls-port", -1, "TURN over TLS port on the media IP, when the control process sends a certificate (0: any free port; -1: none)")
	fs.IntVar(&cfg.TURNMaxBitrate, "turn-max-bitrate", 0, "bit/s one TURN allocation may relay (0: the default; -1: no cap)")
	fs.IntVar(&cfg.TURNAllocations, "turn-allocations", 0, "TURN allocations per session (0: the default)")
	fs.Func("probe-dir", "another directory the lock-down self-probe must fail to write (repeatable)", func(v string) error {
		cfg.ProbeDirs = append(cfg.ProbeDirs, v)
		return nil
	})
	if err := fs.parse(args, 0, stdout, stderr); err != nil {
		return err
	}
	switch {
	case *uid >= 0 && *gid >= 0:
		cfg.User = &compliance.User{UID: *uid, GID: *gid}
	case *uid >= 0 || *gid >= 0:
		return fs.fail(stderr, "--uid and --gid go together")
	}
	// Ctrl-C reaches the whole process group; the control process decides
	// when a worker stops, through the socketpair.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, nil)).With("worker", cfg.Index)
	return worker.Run(ctx, cfg)
}
