package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/internal/udpbatch"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

type workerConfig struct {
	index           int
	udp             string
	allowUnenforced bool
	mlock           bool
	iceFailed       time.Duration
	batch           bool
	probeDirs       []string
}

func workerCommand(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg workerConfig
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.index, "index", 0, "worker index")
	fs.StringVar(&cfg.udp, "udp", "127.0.0.1:0", "media UDP address")
	fs.BoolVar(&cfg.allowUnenforced, "allow-unenforced", false, "run even if the lock-down cannot be enforced")
	fs.BoolVar(&cfg.mlock, "mlock", false, "lock all memory (mlockall) so that media cannot be swapped out")
	fs.BoolVar(&cfg.batch, "batch-writes", true, "send media with one sendmmsg per burst instead of one sendto per packet")
	fs.DurationVar(&cfg.iceFailed, "ice-failed-timeout", 10*time.Second, "drop a participant whose media connection (ICE) has been silent this long, after a 3s grace")
	fs.Func("probe-dir", "another directory the lock-down self-probe must fail to write (repeatable)", func(v string) error {
		cfg.probeDirs = append(cfg.probeDirs, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Ctrl-C reaches the whole process group; the control process decides
	// when a worker stops, through the socketpair.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("worker", cfg.index)

	// 1. Lock down before any media socket exists.
	lockOpts := compliance.LockOptions{
		AllowUnenforced: cfg.allowUnenforced, ExtraProbeDirs: cfg.probeDirs, Mlock: cfg.mlock,
	}
	report, err := compliance.LockDownWorker(lockOpts)
	if err != nil {
		return fmt.Errorf("worker %d refuses to start: %w", cfg.index, err)
	}

	// 2. The socketpair from serve is fd 3.
	f := os.NewFile(3, "ipc")
	if f == nil {
		return errors.New("worker: no control socket on fd 3 (run by `lethe serve`, not by hand)")
	}
	conn := ipc.NewConn(f)
	defer conn.Close()

	// 3. The media socket.
	addr, err := net.ResolveUDPAddr("udp", cfg.udp)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	udp, err := net.ListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("worker: media socket: %w", err)
	}
	_ = udp.SetReadBuffer(4 << 20)
	_ = udp.SetWriteBuffer(4 << 20)
	var media net.PacketConn = udp
	if cfg.batch {
		if media, err = udpbatch.New(udp, 0); err != nil {
			udp.Close()
			return fmt.Errorf("worker: %w", err)
		}
	}
	s, err := sfu.New(sfu.Config{UDPConn: media, Logger: log, ICEFailedTimeout: cfg.iceFailed})
	if err != nil {
		media.Close()
		return err
	}
	defer s.Close()

	// 4. Its sockets are open: no more programs, memfds, io_uring, ptrace,
	// mounts... (seccomp), before it serves anyone.
	if err := compliance.LockDownSyscalls(&report, lockOpts); err != nil {
		return fmt.Errorf("worker %d refuses to start: %w", cfg.index, err)
	}
	if !report.Enforced {
		log.Warn("LOCK-DOWN NOT ENFORCED: this worker could write media to disk", "problems", report.Problems)
	}

	lockdown, err := json.Marshal(report)
	if err != nil {
		return err
	}
	if err := conn.Send(ipc.OpReady, 0, ipc.Ready{UDP: udp.LocalAddr().String(), Lockdown: lockdown}); err != nil {
		return err
	}
	server := signaling.ServerInfo{Version: version, Enforced: report.Enforced}
	if !report.Enforced {
		server.Warnings = append([]string{"media worker lock-down NOT enforced (--allow-unenforced)"}, report.Problems...)
	}
	join := func(room string, pc sfu.ParticipantConfig, ev sfu.Events) (signaling.Peer, []sfu.ParticipantInfo, error) {
		return s.Join(room, pc, ev)
	}
	return signaling.NewHost(conn, join, server, log).Serve(ctx)
}
