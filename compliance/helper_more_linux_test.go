package compliance

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// controlOut is the JSON line of modeControl.
type controlOut struct {
	Report        Report `json:"report"`
	Err           string `json:"err,omitempty"`
	InsideErrno   string `json:"insideErrno"`   // create+write+rename of a db-like file in the data dir
	NestedErrno   string `json:"nestedErrno"`   // mkdir and create beneath the data dir
	OutsideErrno  string `json:"outsideErrno"`  // create in the outside dir
	ExistingErrno string `json:"existingErrno"` // open an existing outside file for writing
	ExecErr       string `json:"execErr"`       // run our own binary
	MemfdErrno    string `json:"memfdErrno"`    // memfd_create after the filter
	IOUringErrno  string `json:"ioUringErrno"`  // io_uring_setup after the filter
	DevNullOK     bool   `json:"devNullOK"`
	TCPOK         bool   `json:"tcpOK"`
	// A child started from one thread, inspected from others.
	CrossThread []string `json:"crossThread"` // errors of readlink /proc/<child>/exe, "" each
	ChildDump   string   `json:"childDump"`   // Dumpable(child): "true", "false" or the error
}

func helperControl() controlOut {
	var o controlOut
	data, outside := os.Getenv(envDataDir), os.Getenv(envOutsideDir)
	existing := filepath.Join(outside, "existing")
	opts := ControlOptions{DataDir: data, ExtraProbeDirs: []string{outside}}
	r, err := LockDownControl(opts)
	if err != nil {
		o.Err = err.Error()
	}
	if err := LockDownControlSyscalls(&r, opts); err != nil {
		o.Err += err.Error()
	}
	o.Report = r
	if _, err := unix.MemfdCreate("lethe-test", unix.MFD_CLOEXEC); err != nil {
		o.MemfdErrno = errnoName(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0); e != 0 {
		o.IOUringErrno = errnoName(e)
	}
	errnoOrEmpty := func(err error) string {
		if err == nil {
			return ""
		}
		return errnoName(err)
	}
	o.InsideErrno = errnoOrEmpty(func() error {
		db := filepath.Join(data, "x.db")
		if err := os.WriteFile(db+"-wal", []byte("wal"), 0o600); err != nil {
			return err
		}
		if err := os.Rename(db+"-wal", db); err != nil {
			return err
		}
		return os.Truncate(db, 0)
	}())
	o.NestedErrno = errnoOrEmpty(func() error {
		if err := os.Mkdir(filepath.Join(data, "sub"), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(data, "sub", "f"), []byte("x"), 0o600)
	}())
	o.OutsideErrno = errnoOrEmpty(os.WriteFile(filepath.Join(outside, "new"), []byte("x"), 0o600))
	o.ExistingErrno = errnoOrEmpty(func() error {
		f, err := os.OpenFile(existing, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		return err
	}())
	if err := exec.Command(os.Args[0], "-test.run=^$").Run(); err != nil {
		o.ExecErr = err.Error()
	}
	if f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		o.DevNullOK = werr == nil
		f.Close()
	}
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		o.TCPOK = true
		l.Close()
	}
	o.CrossThread, o.ChildDump = inspectAcrossThreads()
	return o
}

// inspectAcrossThreads starts a child from one locked thread and inspects
// it from four others, as the attestation does with the workers.
func inspectAcrossThreads() ([]string, string) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return []string{err.Error()}, ""
	}
	started := make(chan *exec.Cmd)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(sleep, "30")
		if cmd.Start() != nil {
			cmd = nil
		}
		started <- cmd
	}()
	cmd := <-started
	if cmd == nil {
		return []string{"could not start sleep"}, ""
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var out []string
	for range 4 {
		res := make(chan string)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			msg := ""
			if _, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); err != nil {
				msg = err.Error()
			}
			res <- msg
		}()
		out = append(out, <-res)
	}
	d, err := Dumpable(cmd.Process.Pid)
	if err != nil {
		return out, err.Error()
	}
	return out, fmt.Sprint(d)
}

// seccompOut is the JSON line of modeSeccomp.
type seccompOut struct {
	Report     Report `json:"report"`
	Err        string `json:"err,omitempty"`
	SysErr     string `json:"sysErr,omitempty"`
	MemfdErrno string `json:"memfdErrno"`
	ExecErrno  string `json:"execErrno"`
	NewThread  int    `json:"newThread"` // a thread started after the install, alive
	UDPOK      bool   `json:"udpOK"`
	ReadErrno  string `json:"readErrno"` // reading /proc/self/status after the seal
	AllocOK    bool   `json:"allocOK"`
	PipeOK     bool   `json:"pipeOK"`
}

func helperSeccomp() seccompOut {
	var o seccompOut
	opts := LockOptions{Mlock: os.Getenv(envMlock) != "", User: nobodyIfRoot()}
	r, err := LockDownWorker(opts)
	if err != nil {
		o.Err = err.Error()
	}
	// Threads that exist before the filter.
	var wg sync.WaitGroup
	hold := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread dies with us
			<-hold
		}()
	}
	if err := LockDownSyscalls(&r, opts); err != nil {
		o.SysErr = err.Error()
	}
	o.Report = r

	if _, err := unix.MemfdCreate("lethe-test", unix.MFD_CLOEXEC); err != nil {
		o.MemfdErrno = errnoName(err)
	}
	if err := exec.Command("/bin/true").Run(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			o.ExecErrno = errnoName(errno)
		} else {
			o.ExecErrno = err.Error()
		}
	}
	ch := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives until we exit
		ch <- unix.Gettid()
		select {}
	}()
	o.NewThread = <-ch
	if c, err := net.ListenPacket("udp4", "127.0.0.1:0"); err == nil {
		o.UDPOK = true
		c.Close()
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		o.ReadErrno = errnoName(err)
	}
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i)
	}
	o.AllocOK = big[len(big)-1] == byte(len(big)-1)
	if pr, pw, err := os.Pipe(); err == nil {
		o.PipeOK = true
		pr.Close()
		pw.Close()
	}
	close(hold)
	wg.Wait()
	return o
}

// dropOut is the JSON line of modeDrop.
type dropOut struct {
	Report    PrivilegeReport `json:"report"`
	Failed    []string        `json:"failed"`
	Notes     []string        `json:"notes"`
	ReadErrno string          `json:"readErrno"` // opening envReadFile afterwards
	PDeathSig int             `json:"pdeathSig"` // afterwards
	// ThreadPDeathSigs are those of threads started before the drop.
	ThreadPDeathSigs []int `json:"threadPDeathSigs"`
}

// helperDrop drops to nobody as a worker does, keeping CAP_IPC_LOCK if
// asked, and becomes dumpable again if asked.
func helperDrop() dropOut {
	var keep CapSet
	if os.Getenv(envKeepIPCLock) != "" {
		keep = 1 << capIPCLock
	}
	// Threads that exist before the drop, each reporting its parent-death
	// signal afterwards; the one set at fork (main thread) is SIGKILL.
	o := dropOut{}
	const threads = 3
	after := make(chan int, threads)
	dropped := make(chan struct{})
	ready := make(chan struct{}, threads+1)
	for range threads {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with us
			ready <- struct{}{}
			<-dropped
			var sig int
			_ = unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0)
			after <- sig
		}()
	}
	// One more such thread reads it at the very end: a thread the runtime
	// starts after the drop (one replaces each locked thread that exits)
	// gets none, as every new thread does, and reading on whatever thread
	// this goroutine is on made the check flaky.
	last, final := make(chan struct{}), make(chan int)
	go func() {
		runtime.LockOSThread()
		ready <- struct{}{}
		<-last
		var sig int
		_ = unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0)
		final <- sig
	}()
	for range threads + 1 {
		<-ready
	}
	o.Report, o.Failed, o.Notes = dropPrivileges(&User{UID: nobody, GID: nobody}, keep, int(unix.SIGUSR2))
	close(dropped)
	for range threads {
		o.ThreadPDeathSigs = append(o.ThreadPDeathSigs, <-after)
	}
	if os.Getenv(envSetDumpable) != "" {
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
			o.Failed = append(o.Failed, err.Error())
		}
	}
	if f, err := os.Open(os.Getenv(envReadFile)); err != nil {
		o.ReadErrno = errnoName(err)
	} else {
		f.Close()
	}
	close(last)
	o.PDeathSig = <-final
	return o
}

// mlockOut is the JSON line of modeMlock.
type mlockOut struct {
	Report  Report `json:"report"`
	Err     string `json:"err,omitempty"`
	AllocOK bool   `json:"allocOK"`
	// VmLck before and after touching 128 MiB more.
	LockedBeforeKB uint64 `json:"lockedBeforeKB"`
	LockedAfterKB  uint64 `json:"lockedAfterKB"`
}

// helperMlock locks down as a worker with Mlock (after giving up
// CAP_IPC_LOCK and CAP_SYS_RESOURCE, if asked), then allocates and touches
// 128 MiB, as a worker whose memory grows does.
func helperMlock() mlockOut {
	var o mlockOut
	if os.Getenv(envNoMemlock) != "" {
		for _, c := range []uintptr{capIPCLock, capSysResource} {
			if err := allThreads("drop", unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c); err != nil {
				o.Err = err.Error()
				return o
			}
		}
		_, prm, err := capabilities()
		if err == nil {
			err = setCapabilities(prm &^ (1<<capIPCLock | 1<<capSysResource))
		}
		if err != nil {
			o.Err = err.Error()
			return o
		}
	}
	r, err := LockDownWorker(LockOptions{Mlock: true, User: nobodyIfRoot()})
	o.Report = r
	if err != nil {
		o.Err = err.Error()
	}
	vmLck := func() uint64 {
		st, _ := os.ReadFile("/proc/self/status") // allowed until LockDownSyscalls seals
		kb, _ := parseKB(st, "VmLck")
		return kb
	}
	o.LockedBeforeKB = vmLck()
	big := make([][]byte, 32)
	for i := range big {
		big[i] = make([]byte, 4<<20)
		for j := range big[i] {
			big[i][j] = byte(j)
		}
	}
	o.AllocOK = big[31][4<<20-1] == byte((4<<20-1)&0xff)
	o.LockedAfterKB = vmLck()
	return o
}
