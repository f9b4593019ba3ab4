package control

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/signaling"
)

// Errors of the worker pool.
var (
	ErrPoolClosed  = errors.New("control: worker pool closed")
	ErrNoWorker    = errors.New("control: no worker available")
	ErrWorkerStart = errors.New("control: worker failed to start")
	// ErrWorkerDown: a worker has exited and its replacement is not ready.
	ErrWorkerDown = errors.New("control: media worker down")
	// ErrNotLockedDown: a worker's report says its lock-down is not in
	// force (and the pool was not told AllowUnenforced).
	ErrNotLockedDown = errors.New("control: media worker not locked down")
)

// PoolConfig configures the worker pool.
type PoolConfig struct {
	Exe             string   // the lethe binary
	Workers         int      // default 1
	UDPHost         string   // default 127.0.0.1
	UDPPort         int      // worker i listens on UDPPort+i; 0 picks free ports
	ICETCP          bool     // workers also take ICE-TCP, on UDPHost
	ICETCPPort      int      // worker i listens on ICETCPPort+i; 0 picks free ports
	AllowUnenforced bool     // let workers run where lock-down cannot be enforced
	Procs           int      // GOMAXPROCS of each worker; 0: Go's default (all CPUs)
	Args            []string // extra arguments for `lethe worker`
	Logger          *slog.Logger
	ReadyTimeout    time.Duration // default 15s
	// TURNPort is the port of worker 0's TURN relay, on UDP and TCP;
	// worker i uses TURNPort+i. 0 picks free ports; negative: no relay.
	TURNPort int
	// TURNTLSPort is worker 0's TURN-over-TLS port (worker i: +i; 0: free
	// ports), used when TURNCert is set; it is handed to the workers in
	// their start frame (they cannot read files), and SetTURNCertificate
	// renews it.
	TURNTLSPort int
	TURNCert    *signaling.Certificate
}

// Worker describes a running worker.
type Worker struct {
	Index  int
	PID    int
	UDP    string
	TCP    string                // its ICE-TCP listener; "" when off
	Media  []signaling.MediaAddr // the addresses its candidates advertise
	Report json.RawMessage       // the worker's lock-down report, as it measured it
	// Its TURN relay's listeners; empty when it runs none.
	TURNUDP, TURNTCP, TURNTLS string
}

// Pool owns the workers.
type Pool struct {
	cfg  PoolConfig
	log  *slog.Logger
	fork *forkThread // every worker is forked from it
	// turnSecret makes and checks the TURN credentials of every worker:
	// random per start, in memory only, handed to each worker in its
	// start frame (never on its command line or in its environment).
	turnSecret []byte
	turnCert   *signaling.Certificate // guarded by mu: the latest, for workers started from now on

	mu       sync.Mutex
	procs    []*proc
	rooms    map[string]*roomEntry
	nextSID  uint64
	closed   bool
	wg       sync.WaitGroup
	restarts int
}

type roomEntry struct {
	p        *proc
	sessions int
}

// StartPool spawns the media workers and waits until each reports ready.
func StartPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.UDPHost == "" {
		cfg.UDPHost = "127.0.0.1"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, rooms: make(map[string]*roomEntry), procs: make([]*proc, cfg.Workers)}
	if cfg.TURNPort >= 0 {
		p.turnSecret = make([]byte, 32)
		if _, err := rand.Read(p.turnSecret); err != nil {
			return nil, fmt.Errorf("worker pool: TURN secret: %w", err)
		}
	}
	p.fork = newForkThread()
	p.turnCert = cfg.TURNCert
	closeInheritedOnExec()
	for i := range cfg.Workers {
		w, err := p.spawn(ctx, i)
		if err != nil {
			_ = p.Close(context.Background())
			return nil, err
		}
		p.mu.Lock()
		p.procs[i] = w
		p.mu.Unlock()
	}
	return p, nil
}

// Workers describes the running workers.
func (p *Pool) Workers() []Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Worker, 0, len(p.procs))
	for _, w := range p.procs {
		if w != nil && !w.dead {
			out = append(out, w.describe())
		}
	}
	return out
}

// Ready reports whether the pool can host participants as it was
// configured to: every worker runs, and each has reported its lock-down
// in force, unless AllowUnenforced.
func (p *Pool) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPoolClosed
	}
	for i, w := range p.procs {
		if w == nil || w.dead {
			return fmt.Errorf("%w: worker %d", ErrWorkerDown, i)
		}
		var r struct {
			Enforced bool `json:"enforced"`
		}
		if err := json.Unmarshal(w.report, &r); (err != nil || !r.Enforced) && !p.cfg.AllowUnenforced {
			return fmt.Errorf("%w: worker %d", ErrNotLockedDown, i)
		}
	}
	return nil
}

// WorkerStats is one worker's answer to Stats.
type WorkerStats struct {
	Worker
	Stats signaling.Stats
	Err   error // the worker did not answer in time
}

// Stats asks every running worker for its runtime figures and waits for
// the answers until ctx ends.
func (p *Pool) Stats(ctx context.Context, req signaling.StatsRequest) []WorkerStats {
	p.mu.Lock()
	procs := make([]*proc, 0, len(p.procs))
	for _, w := range p.procs {
		if w != nil && !w.dead {
			procs = append(procs, w)
		}
	}
	p.mu.Unlock()
	out := make([]WorkerStats, len(procs))
	var wg sync.WaitGroup
	for i, w := range procs {
		out[i].Worker = w.describe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Stats, out[i].Err = w.askStats(ctx, req)
		}()
	}
	wg.Wait()
	return out
}

// describe is w as Workers reports it.
func (w *proc) describe() Worker {
	return Worker{Index: w.idx, PID: w.cmd.Process.Pid, UDP: w.udp, TCP: w.ready.TCP, Media: w.ready.Media, Report: w.report,
		TURNUDP: w.ready.TURNUDP, TURNTCP: w.ready.TURNTCP, TURNTLS: w.ready.TURNTLS}
}

func (w *proc) askStats(ctx context.Context, req signaling.StatsRequest) (signaling.Stats, error) {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	select { // a late answer to an earlier request
	case <-w.stats:
	default:
	}
	if err := w.conn.Send(ipc.OpStats, 0, req); err != nil {
		return signaling.Stats{}, fmt.Errorf("worker %d: %w", w.idx, err)
	}
	select {
	case st := <-w.stats:
		return st, nil
	case <-w.exited:
		return signaling.Stats{}, fmt.Errorf("worker %d exited", w.idx)
	case <-ctx.Done():
		return signaling.Stats{}, fmt.Errorf("worker %d: %w", w.idx, ctx.Err())
	}
}

// proc is one worker process.
type proc struct {
	pool     *Pool
	idx      int
	udp      string
	ready    signaling.Ready // its first frame (lock-down report, addresses)
	cmd      *exec.Cmd
	conn     *ipc.Conn
	report   json.RawMessage
	sessions map[uint64]*session // guarded by pool.mu
	dead     bool                // guarded by pool.mu
	tail     *tail
	exited   chan struct{}

	statsMu sync.Mutex           // one stats request at a time
	stats   chan signaling.Stats // the worker's answers, read by Stats
}

func (p *Pool) spawn(ctx context.Context, idx int) (*proc, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("worker pool: socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "ipc-control")
	child := os.NewFile(uintptr(fds[1]), "ipc-worker")

	port := 0
	if p.cfg.UDPPort > 0 {
		port = p.cfg.UDPPort + idx
	}
	udp := net.JoinHostPort(p.cfg.UDPHost, strconv.Itoa(port))
	args := []string{"worker", "--index", strconv.Itoa(idx), "--udp", udp}
	if p.cfg.ICETCP {
		tcpPort := 0
		if p.cfg.ICETCPPort > 0 {
			tcpPort = p.cfg.ICETCPPort + idx
		}
		args = append(args, "--ice-tcp", net.JoinHostPort(p.cfg.UDPHost, strconv.Itoa(tcpPort)))
	}
	if p.cfg.AllowUnenforced {
		args = append(args, "--allow-unenforced")
	}
	if p.cfg.TURNPort >= 0 {
		turn := 0
		if p.cfg.TURNPort > 0 {
			turn = p.cfg.TURNPort + idx
		}
		args = append(args, "--turn-port", strconv.Itoa(turn))
		if p.cfg.TURNCert != nil && p.cfg.TURNTLSPort >= 0 {
			tls := 0
			if p.cfg.TURNTLSPort > 0 {
				tls = p.cfg.TURNTLSPort + idx
			}
			args = append(args, "--turn-tls-port", strconv.Itoa(tls))
		}
	}
	args = append(args, p.cfg.Args...)
	cmd := exec.Command(p.cfg.Exe, args...)
	cmd.ExtraFiles = []*os.File{child} // fd 3 in the worker
	// GOTRACEBACK=single: a panic prints the panicking goroutine only (a
	// signal's dump still holds them all: pipe keeps it out of the log).
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GOTRACEBACK=single"}
	if p.cfg.Procs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(p.cfg.Procs))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		parent.Close()
		child.Close()
		return nil, fmt.Errorf("worker pool: stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		parent.Close()
		child.Close()
		return nil, fmt.Errorf("worker pool: stderr: %w", err)
	}
	w := &proc{
		pool: p, idx: idx, udp: udp, cmd: cmd, conn: ipc.NewConn(parent),
		sessions: make(map[uint64]*session), tail: newTail(8), exited: make(chan struct{}),
		stats: make(chan signaling.Stats, 1),
	}
	err = p.fork.start(cmd)
	child.Close() // the worker has its copy; ours would hide the worker's exit from Recv
	if err != nil {
		parent.Close()
		return nil, fmt.Errorf("worker pool: start worker: %w", err)
	}
	// The start frame waits in the socket until the worker, locked down,
	// reads it.
	p.mu.Lock()
	start := signaling.Start{TURNSecret: p.turnSecret, TURNCert: p.turnCert}
	p.mu.Unlock()
	if err := w.conn.Send(ipc.OpStart, 0, start); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		parent.Close()
		return nil, fmt.Errorf("worker pool: start frame: %w", err)
	}
	var outWG sync.WaitGroup
	outWG.Add(2)
	go w.pipe(&outWG, stdout, "stdout")
	go w.pipe(&outWG, stderr, "stderr")
	go func() {
		outWG.Wait() // Wait closes the pipes: drain them first
		_ = cmd.Wait()
		close(w.exited)
	}()

	ready := make(chan error, 1)
	go func() {
		f, err := w.conn.Recv()
		switch {
		case err != nil:
			ready <- err
		case f.Op != ipc.OpReady:
			ready <- fmt.Errorf("unexpected first frame %q", f.Op)
		default:
			var r signaling.Ready
			if err := json.Unmarshal(f.Data, &r); err != nil {
				ready <- fmt.Errorf("bad ready frame: %w", err)
				return
			}
			w.report, w.udp, w.ready = r.Lockdown, r.UDP, r
			ready <- nil
		}
	}()
	timer := time.NewTimer(p.cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-w.exited:
		err = fmt.Errorf("exited (%s)", cmd.ProcessState)
	case <-timer.C:
		err = errors.New("timed out")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = cmd.Process.Kill()
		<-w.exited
		w.conn.Close()
		return nil, fmt.Errorf("%w: worker %d: %v; its last words: %s", ErrWorkerStart, idx, err, w.tail.String())
	}
	p.log.Info("media worker ready", "worker", idx, "pid", cmd.Process.Pid, "udp", w.udp, "ice-tcp", w.ready.TCP)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		w.readLoop()
	}()
	return w, nil
}

// pipe forwards a worker's output lines to the control process's log.
// A Go crash report is not forwarded: from its first line on, crashLog
// reads it, and when the stream ends one line says what crashed, with the
// function names of its stack and nothing else (see crashLog).
func (w *proc) pipe(wg *sync.WaitGroup, r io.Reader, stream string) {
	defer wg.Done()
	var crash crashLog
	readLines(r, func(line string) {
		if crash.started || crash.starts(line) {
			crash.add(line)
			return
		}
		w.tail.add(line)
		w.pool.log.Info("worker output", "worker", w.idx, "stream", stream, "line", line)
	})
	if crash.started {
		attrs := append([]any{"worker", w.idx, "stream", stream}, crash.attrs()...)
		w.pool.log.Error("media worker crashed", attrs...)
		w.tail.add("crashed: " + crash.kind + ": " + crash.reason)
	}
}

// readLoop relays the worker's frames to sessions until the worker goes.
func (w *proc) readLoop() {
	for {
		f, err := w.conn.Recv()
		if err != nil {
			break
		}
		if f.Op == ipc.OpStats {
			var st signaling.Stats
			if json.Unmarshal(f.Data, &st) == nil {
				select {
				case w.stats <- st:
				default: // an answer nobody waits for any more
				}
			}
			continue
		}
		w.pool.mu.Lock()
		s := w.sessions[f.Session]
		if f.Op == ipc.OpClosed && s != nil {
			w.pool.forgetLocked(s)
		}
		w.pool.mu.Unlock()
		if s == nil {
			continue
		}
		switch f.Op {
		case ipc.OpMsg:
			s.sink.Deliver(f.Data)
		case ipc.OpState:
			var st signaling.State
			if json.Unmarshal(f.Data, &st) == nil {
				s.sink.State(st)
			}
		case ipc.OpClosed:
			var c signaling.Closed
			_ = json.Unmarshal(f.Data, &c)
			s.sink.Closed(c)
		}
	}
	w.conn.Close()
	<-w.exited
	w.pool.lost(w)
}

// lost handles a worker that exited: its participants are told and the
// worker is replaced, unless the pool is closing.
func (p *Pool) lost(w *proc) {
	p.mu.Lock()
	w.dead = true
	orphans := make([]*session, 0, len(w.sessions))
	for _, s := range w.sessions {
		orphans = append(orphans, s)
		p.forgetLocked(s)
	}
	closing := p.closed
	p.mu.Unlock()
	if !closing {
		p.log.Error("media worker exited", "worker", w.idx, "pid", w.cmd.Process.Pid,
			"state", w.cmd.ProcessState.String(), "sessions", len(orphans))
	}
	code := signaling.CodeWorkerUnavailable
	if closing {
		code = signaling.CodeShuttingDown
	}
	for _, s := range orphans {
		if raw, err := signaling.Encode(signaling.TypeError, 0, signaling.Error{Code: code, Message: code.String()}); err == nil {
			s.sink.Deliver(raw)
		}
		if raw, err := signaling.Encode(signaling.TypeBye, 0, signaling.Bye{Code: code, Reason: code.String()}); err == nil {
			s.sink.Deliver(raw)
		}
		s.sink.Closed(signaling.Closed{Code: code, Reason: code.String()})
	}
	if closing {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.respawn(w.idx)
	}()
}

func (p *Pool) respawn(idx int) {
	delay := 100 * time.Millisecond
	for {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		w, err := p.spawn(context.Background(), idx)
		if err == nil {
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				_ = w.conn.Send(ipc.OpShutdown, 0, nil)
				return
			}
			p.procs[idx] = w
			p.restarts++
			p.mu.Unlock()
			return
		}
		p.log.Error("media worker restart failed", "worker", idx, "err", err.Error())
		time.Sleep(delay)
		delay = min(2*delay, 5*time.Second)
	}
}

// session is one participant's line to a worker.
type session struct {
	id   uint64
	w    *proc
	room string
	sink Sink
}

// Open places o's room on a worker (the one already hosting it, or the
// least busy) and opens the session there.
func (p *Pool) Open(o signaling.Open, sink Sink) (Session, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	e := p.rooms[o.RoomKey]
	if e == nil {
		var best *proc
		for _, w := range p.procs {
			if w == nil || w.dead {
				continue
			}
			if best == nil || len(w.sessions) < len(best.sessions) {
				best = w
			}
		}
		if best == nil {
			p.mu.Unlock()
			return nil, ErrNoWorker
		}
		e = &roomEntry{p: best}
		p.rooms[o.RoomKey] = e
	}
	p.nextSID++
	s := &session{id: p.nextSID, w: e.p, room: o.RoomKey, sink: sink}
	e.sessions++
	e.p.sessions[s.id] = s
	p.mu.Unlock()
	if err := e.p.conn.Send(ipc.OpOpen, s.id, o); err != nil {
		p.mu.Lock()
		p.forgetLocked(s)
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrNoWorker, err)
	}
	return s, nil
}

// forgetLocked removes s from its worker and its room's count.
func (p *Pool) forgetLocked(s *session) {
	if _, ok := s.w.sessions[s.id]; !ok {
		return
	}
	delete(s.w.sessions, s.id)
	if e := p.rooms[s.room]; e != nil && e.p == s.w {
		e.sessions--
		if e.sessions <= 0 {
			delete(p.rooms, s.room)
		}
	}
}

// Send relays one client message.
func (s *session) Send(raw []byte) error {
	return s.w.conn.Send(ipc.OpMsg, s.id, json.RawMessage(raw))
}

// Control passes an instruction of the control process to the worker.
func (s *session) Control(c signaling.Control) error {
	return s.w.conn.Send(ipc.OpControl, s.id, c)
}

// Close tells the worker the client is gone.
func (s *session) Close() {
	_ = s.w.conn.Send(ipc.OpClose, s.id, nil)
}

// Close shuts every worker down: each tells its participants and exits.
// Workers still running when ctx ends are killed.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	procs := make([]*proc, 0, len(p.procs))
	for _, w := range p.procs {
		if w != nil {
			procs = append(procs, w)
		}
	}
	p.mu.Unlock()
	for _, w := range procs {
		_ = w.conn.Send(ipc.OpShutdown, 0, nil)
	}
	var err error
	for _, w := range procs {
		select {
		case <-w.exited:
		case <-ctx.Done():
			_ = w.cmd.Process.Kill()
			<-w.exited
			err = fmt.Errorf("worker pool: worker %d killed after shutdown timeout", w.idx)
		}
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	<-done
	p.fork.stop()
	return err
}

// SetTURNCertificate hands a renewed certificate to every worker's
// TURN-over-TLS listener (and to workers started later). A worker keeps
// its last good one if it cannot use c.
func (p *Pool) SetTURNCertificate(c signaling.Certificate) {
	p.mu.Lock()
	p.turnCert = &c
	procs := make([]*proc, 0, len(p.procs))
	for _, w := range p.procs {
		if w != nil && !w.dead {
			procs = append(procs, w)
		}
	}
	p.mu.Unlock()
	for _, w := range procs {
		if err := w.conn.Send(ipc.OpCert, 0, c); err != nil {
			p.log.Warn("TURN certificate not sent", "worker", w.idx, "err", err.Error())
		}
	}
}

// Restarts counts workers replaced after a crash.
func (p *Pool) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

var _ Backend = (*Pool)(nil)

// tail keeps a worker's last output lines for start-up errors.
type tail struct {
	mu    sync.Mutex
	lines []string
	n     int
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.n {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return "(none)"
	}
	out := ""
	for i, l := range t.lines {
		if i > 0 {
			out += " | "
		}
		out += l
	}
	return out
}

// closeInheritedOnExec marks every descriptor this process inherited (other
// than stdin, stdout and stderr) close-on-exec, so that no worker starts
// with a descriptor it was never meant to have. Go opens its own
// descriptors close-on-exec already.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
