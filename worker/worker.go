package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/internal/udpbatch"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

// Config is what `lethe worker` is started with by the control process.
type Config struct {
	Index                 int              // the worker's number, for logs
	UDP                   string           // media UDP address, e.g. 127.0.0.1:7882, 0.0.0.0:7882
	TCP                   string           // ICE-TCP listener address, on UDP's host; "": no ICE-TCP
	PublicIPs             []netip.Addr     // advertised in place of the local addresses of their family (NAT 1:1); the relay's too
	Interfaces            []string         // on an unspecified UDP address: gather only on these interfaces
	Prefixes              []netip.Prefix   // ... and only addresses within these prefixes
	AllowUnenforced       bool             // run even if the lock-down cannot be enforced
	Mlock                 bool             // lock all memory so media cannot be swapped out, where safe
	User                  *compliance.User // whom to become when started as root
	ReadProbes            []string         // paths the lock-down must prove unreadable (the data dir, the store)
	ICEFailed             time.Duration    // drop a participant whose media connection is silent this long
	DTLSTimeout           time.Duration    // drop a participant whose DTLS handshake is not done this long after ICE connected
	MaxTrackBitrate       int              // bit/s a publisher may send on one track (sfu.Config); 0: the SFU's default, <0: no cap
	NoBandwidthEstimation bool             // sfu.Config.NoBandwidthEstimation
	MaxParticipantBitrate int              // bit/s a publisher may send on all its tracks; 0: the SFU's default, <0: no cap
	// Data messages (sfu.Config): payload bytes of one; messages and
	// bytes a participant may send per second; bytes a room's may. 0:
	// the SFU's default, <0: no limit (not for the size).
	DataMaxMessage, DataMessageRate, DataByteRate, DataRoomByteRate int
	BatchWrites                                                     bool          // one sendmmsg per burst instead of one sendto per packet
	EventWindow                                                     time.Duration // participant events gathered this long per session (WithEventWindow)
	ProbeDirs                                                       []string      // more directories the self-probe must fail to write
	Version                                                         string        // reported to clients in joined
	// TURN relay (internal/turnrelay) on TURNPort, UDP and TCP, of the
	// media IP: 0 picks free ports, negative runs none. Its secret comes
	// in the control process's start frame.
	TURNPort        int
	TURNTLSPort     int          // TURN over TLS, when the start frame brings a certificate; negative: none
	TURNMaxBitrate  int          // bit/s relayed per allocation; 0: turnrelay's default, <0: no cap
	TURNAllocations int          // allocations per session; 0: turnrelay's default
	Logger          *slog.Logger // diagnostics (the worker's stderr, a pipe to the control process)
}

// Run is the media worker's life: lock down, open the media socket, serve
// the control process's frames on fd 3 until it says shutdown or goes away.
// It returns an error, without serving anyone, if the lock-down cannot be
// enforced and cfg.AllowUnenforced is false.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// What needs a file, before the lock-down takes them all away: the
	// local time zone (read lazily by the first log line that formats a
	// time) and the media address (an IP address, but resolved here all
	// the same).
	_, _ = time.Now().Zone()
	udpNet, tcpNet, err := networks(cfg.UDP)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	addr, err := net.ResolveUDPAddr(udpNet, cfg.UDP)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}

	// 1. Lock down before any media socket exists.
	lockOpts := compliance.LockOptions{
		AllowUnenforced: cfg.AllowUnenforced, ExtraProbeDirs: cfg.ProbeDirs, Mlock: cfg.Mlock,
		User: cfg.User, ReadProbes: cfg.ReadProbes,
		// The control process starts workers with Pdeathsig SIGKILL; the
		// change of user clears it, the lock-down sets it again.
		ParentDeathSignal: syscall.SIGKILL,
	}
	report, err := compliance.LockDownWorker(lockOpts)
	if err != nil {
		return fmt.Errorf("worker %d refuses to start: %w", cfg.Index, err)
	}
	if m := report.Mlock; m != nil && !m.Locked {
		log.Warn("MEDIA MEMORY NOT LOCKED: it could be swapped out where there is swap", "reason", m.Reason)
	}

	// 2. The media socket (a port below 1024 fails: the worker holds no
	// capability any more).
	udp, err := net.ListenUDP(udpNet, addr)
	if err != nil {
		return fmt.Errorf("worker: media socket: %w", err)
	}
	_ = udp.SetReadBuffer(4 << 20)
	_ = udp.SetWriteBuffer(4 << 20)
	var media net.PacketConn = udp
	if cfg.BatchWrites {
		if media, err = udpbatch.New(udp, 0); err != nil {
			udp.Close()
			return fmt.Errorf("worker: %w", err)
		}
	}
	// ICE-TCP, for clients whose UDP is blocked: a listener the SFU
	// accepts on for as long as it runs (Landlock rules no socket, and
	// seccomp denies no network call).
	var tcp net.Listener
	if cfg.TCP != "" {
		if tcp, err = net.Listen(tcpNet, cfg.TCP); err != nil {
			media.Close()
			return fmt.Errorf("worker: ice-tcp listener: %w", err)
		}
	}
	s, err := sfu.New(sfu.Config{UDPConn: media, TCPListener: tcp, Logger: log, ICEFailedTimeout: cfg.ICEFailed, DTLSTimeout: cfg.DTLSTimeout,
		MaxTrackBitrate: cfg.MaxTrackBitrate, MaxParticipantBitrate: cfg.MaxParticipantBitrate,
		NoBandwidthEstimation: cfg.NoBandwidthEstimation,
		Data: sfu.DataConfig{MaxMessage: cfg.DataMaxMessage, MessageRate: cfg.DataMessageRate, ByteRate: cfg.DataByteRate,
			RoomByteRate: cfg.DataRoomByteRate},
		PublicIPs: cfg.PublicIPs, Interfaces: cfg.Interfaces, Prefixes: cfg.Prefixes})
	if err != nil {
		media.Close()
		if tcp != nil {
			tcp.Close()
		}
		return err
	}
	defer s.Close()

	// 3. The socketpair from the control process is fd 3, taken only now:
	// until it closes, the control process waits for this process to
	// exit, and so reads the reason a failure above printed first.
	f := os.NewFile(3, "ipc")
	if f == nil {
		return errors.New("worker: no control socket on fd 3 (run by `lethe serve`, not by hand)")
	}
	conn := ipc.NewConn(f)
	defer conn.Close()
	// From here a failure is said on stderr before the socket closes: the
	// control process takes its close for the end of the worker's words.
	defer func() {
		if err != nil {
			fmt.Fprintf(os.Stderr, "lethe worker: %v\n", err)
		}
	}()
	start, err := recvStart(conn)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}

	// The TURN relay's listeners, beside the media socket (it opens a
	// relay socket per allocation later: the seccomp filter allows
	// sockets, Landlock has no say on UDP).
	var relay *relayListeners
	opts := []HostOption{WithEventWindow(cfg.EventWindow)}
	if cfg.TURNPort >= 0 {
		if relay, err = listenRelay(addr.AddrPort().Addr(), cfg.TURNPort, cfg.TURNTLSPort, start.TURNCert); err != nil {
			return fmt.Errorf("worker %d: %w", cfg.Index, err)
		}
		r, err := relay.start(start.TURNSecret, udp.LocalAddr().(*net.UDPAddr).AddrPort(), cfg)
		if err != nil {
			relay.close()
			return fmt.Errorf("worker %d: %w", cfg.Index, err)
		}
		defer r.Close() // and its listeners
		opts = append(opts, WithRelay(r), WithCertificates(r.SetCertificate))
	}

	// 4. Its sockets are open: no more programs, memfds, io_uring, ptrace,
	// mounts... (seccomp), and not even its own /proc entry to read (the
	// Landlock seal), before it serves anyone.
	if err := compliance.LockDownSyscalls(&report, lockOpts); err != nil {
		return fmt.Errorf("worker %d refuses to start: %w", cfg.Index, err)
	}
	if !report.Enforced {
		log.Warn("LOCK-DOWN NOT ENFORCED: this worker could write media to disk", "problems", report.Problems)
	}

	lockdown, err := json.Marshal(report)
	if err != nil {
		return err
	}
	ready := signaling.Ready{UDP: udp.LocalAddr().String(), Media: advertised(s), Lockdown: lockdown}
	if tcp != nil {
		ready.TCP = tcp.Addr().String()
	}
	if relay != nil {
		ready.TURNUDP, ready.TURNTCP = relay.udp.LocalAddr().String(), relay.tcp.Addr().String()
		if relay.tls != nil {
			ready.TURNTLS = relay.tls.Addr().String()
		}
	}
	if err := conn.Send(ipc.OpReady, 0, ready); err != nil {
		return err
	}
	server := signaling.ServerInfo{Version: cfg.Version, Enforced: report.Enforced, Media: ready.Media}
	if !report.Enforced {
		server.Warnings = append([]string{"media worker lock-down NOT enforced (--allow-unenforced)"}, report.Problems...)
	}
	join := func(room string, pc sfu.ParticipantConfig, ev sfu.Events) (Peer, []sfu.ParticipantInfo, error) {
		return s.Join(room, pc, ev)
	}
	opts = append(opts, WithMediaStats(func() signaling.MediaStats { return mediaStats(s) }))
	return NewHost(conn, join, server, log, opts...).Serve(ctx)
}

// recvStart reads the control process's start frame.
func recvStart(conn *ipc.Conn) (signaling.Start, error) {
	var st signaling.Start
	f, err := conn.Recv()
	if err != nil {
		return st, fmt.Errorf("start frame: %w", err)
	}
	if f.Op != ipc.OpStart {
		return st, fmt.Errorf("first frame %q, want %q", signaling.Printable(f.Op, 16), ipc.OpStart)
	}
	if err := json.Unmarshal(f.Data, &st); err != nil {
		return st, errors.New("bad start frame")
	}
	return st, nil
}

// networks returns the networks to listen on for a media address: an IPv4
// address (0.0.0.0 too) is IPv4 only, an IPv6 one ([::] for both
// families) is dual-stack where the kernel allows.
func networks(hostPort string) (udp, tcp string, err error) {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", "", err
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return "udp4", "tcp4", nil
	}
	return "udp", "tcp", nil
}

// advertised lists what s's candidates advertise, for the control
// process's banner and for joined.server.
func advertised(s *sfu.SFU) []signaling.MediaAddr {
	udp, tcp := s.Advertised()
	out := make([]signaling.MediaAddr, 0, len(udp)+len(tcp))
	for _, a := range udp {
		out = append(out, signaling.MediaAddr{Protocol: "udp", Address: a.String()})
	}
	for _, a := range tcp {
		out = append(out, signaling.MediaAddr{Protocol: "tcp", Address: a.String()})
	}
	return out
}
