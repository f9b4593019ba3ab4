package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// ProcessInfo names one process to attest and carries its own lock-down
// Report, as it measured itself (JSON of a Report; empty if there is none).
type ProcessInfo struct {
	PID    int
	Role   string // RoleControl or RoleWorker
	Index  int    // worker index; 0 for the control process
	Report json.RawMessage
}

// AttestationSource is what the attestation needs from the server: the
// processes that make it up at this moment, and the version compiled in.
type AttestationSource interface {
	Processes() []ProcessInfo
	Version() string
}

// Attestation is what is enforced, per process, measured at one moment. The
// Measured parts are read from /proc and the kernel when it is made; the
// SelfReport parts are what each process measured about itself when it
// locked down (the Landlock rules and the self-probes cannot be read from
// outside). It is never filled from configuration.
type Attestation struct {
	MeasuredAt time.Time `json:"measuredAt"`
	Version    string    `json:"version"`
	GoVersion  string    `json:"goVersion"`
	// Binary is the file the attesting (control) process runs.
	Binary BinaryInfo `json:"binary"`
	Kernel KernelInfo `json:"kernel"`
	// Swap lists the active swap areas (/proc/swaps); SwapPresent is true
	// when there is any: then only mlock keeps memory off the disk.
	SwapPresent bool     `json:"swapPresent"`
	Swap        []string `json:"swap"`
	// Signaling is how clients reach the control process, if the source
	// says (SignalingSource).
	Signaling *Signaling           `json:"signaling,omitempty"`
	Processes []ProcessAttestation `json:"processes"`
	// Enforced is true when every process is, and there is at least one
	// control process and one worker.
	Enforced bool `json:"enforced"`
	// Findings: the Problems say what is not enforced or could not be
	// measured.
	Findings
	// CannotShow lists what this attestation does not prove.
	CannotShow []string `json:"cannotShow"`
}

// BinaryInfo identifies the running binary.
type BinaryInfo struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Module, ModuleVersion and VCSRevision are from the build info.
	Module        string `json:"module,omitempty"`
	ModuleVersion string `json:"moduleVersion,omitempty"`
	VCSRevision   string `json:"vcsRevision,omitempty"`
}

// KernelInfo is the running kernel.
type KernelInfo struct {
	Release     string `json:"release"`
	LandlockABI int    `json:"landlockABI"`
}

// ProcessAttestation is one process.
type ProcessAttestation struct {
	PID   int    `json:"pid"`
	Role  string `json:"role"`
	Index int    `json:"index"`
	// Enforced is true when there is no problem.
	Enforced bool `json:"enforced"`
	// SameBinary: the process runs the same file as the attesting one.
	SameBinary bool        `json:"sameBinary"`
	Measured   Measurement `json:"measured"`
	SelfReport *Report     `json:"selfReport"`
	Findings
}

// cannotShow is the honest list of what the attestation does not prove.
func cannotShow() []string {
	return []string{
		"Landlock rules cannot be read back from the kernel: they are each process's own report; its self-probes at start-up show that they bite.",
		"Writes through descriptors held before the lock-down or passed in later, and data sent to another process or the network, are not governed by Landlock; writableFiles shows open writable files at this moment only.",
		"A root user, the kernel, a hypervisor or the host can read process memory; swap and hibernation are host settings (mlock only keeps locked pages out of swap).",
		"This is a snapshot: it says what was in force when measuredAt was taken.",
	}
}

// Attest measures every process of src at now. Measuring takes tens of
// milliseconds per distinct binary (it is hashed) and per process.
func Attest(src AttestationSource, now time.Time) Attestation {
	a := Attestation{
		MeasuredAt: now.UTC(),
		Version:    src.Version(),
		GoVersion:  runtime.Version(),
		Swap:       []string{},
		CannotShow: cannotShow(),
		Processes:  []ProcessAttestation{},
	}
	h := newHasher()
	a.Binary.Path, _ = os.Executable()
	if fi, err := os.Stat("/proc/self/exe"); err == nil {
		a.Binary.Size = fi.Size()
	}
	var err error
	if a.Binary.SHA256, err = h.sum("/proc/self/exe"); err != nil {
		a.Problemf("binary: %v", err)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		a.Binary.Module, a.Binary.ModuleVersion = bi.Main.Path, bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				a.Binary.VCSRevision = s.Value
			}
		}
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		a.Kernel.Release = unix.ByteSliceToString(uts.Release[:])
	}
	if abi, err := ll.LandlockGetABIVersion(); err == nil {
		a.Kernel.LandlockABI = abi
	}
	if data, err := os.ReadFile("/proc/swaps"); err != nil {
		a.Problemf("swap: %v", err)
	} else if a.Swap, err = parseSwaps(data); err != nil {
		a.Swap = []string{}
		a.Problemf("swap: %v", err)
	}
	a.SwapPresent = len(a.Swap) > 0
	if ss, ok := src.(SignalingSource); ok {
		sig := ss.Signaling()
		a.Signaling = &sig
		if sig.InsecureHTTP {
			a.Notef("%s", insecureHTTPNote)
		}
	}

	roles := map[string]int{}
	for _, p := range src.Processes() {
		pa := ProcessAttestation{PID: p.PID, Role: p.Role, Index: p.Index}
		pa.Measured = measureProcess(p.PID, h)
		pa.SameBinary = pa.Measured.ExeSHA256 != "" && pa.Measured.ExeSHA256 == a.Binary.SHA256
		if len(p.Report) > 0 {
			var r Report
			if err := json.Unmarshal(p.Report, &r); err != nil {
				pa.Problemf("self-report unreadable: %v", err)
			} else {
				pa.SelfReport = &r
			}
		}
		pa.judge(a.SwapPresent)
		pa.Enforced = pa.OK()
		if !pa.Enforced {
			a.Problemf("%s: not enforced", pa.Name())
		}
		roles[p.Role]++
		a.Processes = append(a.Processes, pa)
	}
	if roles[RoleControl] == 0 {
		a.Problemf("no control process attested")
	}
	if roles[RoleWorker] == 0 {
		a.Problemf("no media worker running")
	}
	a.Enforced = a.OK()
	return a
}

// Name is "control (pid 12)" or "worker 0 (pid 13)".
func (p ProcessAttestation) Name() string {
	if p.Role == RoleWorker {
		return fmt.Sprintf("worker %d (pid %d)", p.Index, p.PID)
	}
	return fmt.Sprintf("%s (pid %d)", p.Role, p.PID)
}

// judge adds to p's findings what is not enforced in it. The measurements
// decide; the self-report contributes what only the process could see
// (Landlock and its probes) and what it was asked to do (mlock).
func (p *ProcessAttestation) judge(swap bool) {
	add := p.Problemf
	m := p.Measured
	for _, e := range m.Errors {
		add("could not measure: %s", e)
	}
	if p.Role != RoleControl && p.Role != RoleWorker {
		add("unknown role %q", p.Role)
	}
	if !m.NoNewPrivs {
		add("no_new_privs is not set on every thread")
	}
	switch {
	case m.Dumpable == nil:
		add("dumpable: cannot tell")
	case *m.Dumpable:
		add("process is dumpable (core dumps and same-user ptrace/proc access possible)")
	}
	if m.CoreLimitSoft != 0 || m.CoreLimitHard != 0 {
		add("core limit is %d/%d, want 0/0", m.CoreLimitSoft, m.CoreLimitHard)
	}
	if m.ExeSHA256 != "" && !p.SameBinary {
		add("runs a different binary (sha256 %s)", m.ExeSHA256)
	}

	r := p.SelfReport
	if r == nil {
		add("no self-report: Landlock and the self-probes are unknown")
		return
	}
	if r.Role != "" && r.Role != p.Role {
		add("self-report is for role %q", r.Role)
	}
	if !r.Enforced {
		add("its own lock-down was not enforced: %s", strings.Join(r.Problems, "; "))
	}
	if r.LandlockABI < 1 || !r.LandlockApplied {
		add("Landlock not applied (ABI %d)", r.LandlockABI)
	}
	var allowed []string
	for _, pr := range r.Probes {
		if !pr.Passed() {
			add("self-probe of %s: errno %q", pr.Path, pr.Errno)
		}
		if pr.MustAllow {
			allowed = append(allowed, pr.Path)
		}
	}
	if len(r.Probes) == 0 {
		add("no self-probe")
	}

	if r.Seccomp == nil {
		add("no seccomp self-report")
	} else if m.SeccompFilters >= 0 && m.SeccompFilters < r.Seccomp.Filters {
		add("seccomp: %d filters now, %d at start-up", m.SeccompFilters, r.Seccomp.Filters)
	}
	if m.SeccompMode != 2 {
		add("seccomp mode %d, want 2 (filter)", m.SeccompMode)
	}

	switch p.Role {
	case RoleWorker:
		p.judgeWorker(swap)
	case RoleControl:
		for _, f := range m.WritableFiles {
			if !slices.ContainsFunc(allowed, func(dir string) bool { return within(strings.TrimSuffix(f, " (deleted)"), dir) }) {
				p.Notef("holds a file open for writing outside its data dir (diagnostics redirected to a file?): %s", f)
			}
		}
	}
}

// judgeWorker adds what only a media worker must satisfy: no writable
// file, nothing readable but /dev/null and its own /proc entry, no root
// and no capability (but CAP_IPC_LOCK for its locked memory), and locked
// memory where there is swap.
func (p *ProcessAttestation) judgeWorker(swap bool) {
	add := p.Problemf
	m, r := p.Measured, p.SelfReport
	if len(m.WritableFiles) > 0 {
		add("holds writable files: %s", strings.Join(m.WritableFiles, ", "))
	}
	own := procDir(p.PID)
	for _, rule := range r.LandlockRules {
		if rule.Path != os.DevNull && slices.ContainsFunc(rule.Access, isWriteRight) {
			add("Landlock grants writing beneath %s", rule.Path)
		}
		if rule.Path != os.DevNull && !within(rule.Path, own) && slices.ContainsFunc(rule.Access, isReadRight) {
			add("Landlock grants reading beneath %s", rule.Path)
		}
	}
	if !r.LandlockSealed {
		add("Landlock not sealed: the worker can still read its own /proc entry")
	}
	for _, rule := range r.LandlockSealRules {
		if rule.Path != os.DevNull && (rule.Path != own+"/task" || !slices.Equal(rule.Access, []string{"read_dir"})) {
			add("Landlock seal grants %s beneath %s", strings.Join(rule.Access, ","), rule.Path)
		}
	}
	for _, pr := range r.ReadProbes {
		if !pr.Passed() {
			add("read probe: %s", pr.failure())
		}
	}
	if len(r.ReadProbes) == 0 {
		add("no read probe")
	}

	locked := r.Mlock != nil && r.Mlock.Locked
	var keep CapSet
	if r.Privileges == nil {
		add("no privilege report: its uid and capabilities at start-up are unknown")
	} else if locked && r.Mlock.WithCapability {
		keep = r.Privileges.Kept & (1 << capIPCLock)
	}
	if c := m.Creds; c != nil {
		problems, notes := judgeCreds(*c, nil, keep, false)
		p.Problems = append(p.Problems, problems...)
		p.Notes = append(p.Notes, notes...)
		if keep != 0 && c.Caps()&keep != 0 {
			p.Notef("keeps %s only, for its locked memory (%s)", keep, r.Privileges.KeptWhy)
		}
	}

	switch {
	case r.Mlock == nil && swap:
		add("swap is present and media memory is not locked (--mlock=false)")
	case r.Mlock == nil:
		p.Notef("media memory is not locked (--mlock=false); there is no swap")
	case !locked && swap:
		add("swap is present and media memory is NOT locked: %s", r.Mlock.Reason)
	case !locked:
		p.Notef("media memory is not locked (%s); there is no swap", r.Mlock.Reason)
	case m.VmLckKB == 0:
		add("mlockall succeeded at start-up but no memory is locked now")
	}
}

// isReadRight says whether a Landlock right reads files or directories.
func isReadRight(right string) bool {
	return right == "read_file" || right == "read_dir"
}

// isWriteRight says whether a Landlock right writes or changes the tree.
func isWriteRight(right string) bool {
	switch right {
	case "execute", "read_file", "read_dir", "ioctl_dev", "resolve_unix":
		return false
	}
	return true
}

// AttestationHandler serves GET requests with the attestation of src,
// measured when the request arrives: to a request without credentials the
// public Summary, to one with "Authorization: Bearer <key>" for one of keys
// (the admin key, the auditor key; surrounding white space ignored) the
// full JSON Attestation, and to one with any other credentials 401.
// Measurements run one at a time; a request that cannot start one within
// 10 s gets 503. The answer is 200 whether or not everything is enforced:
// the body says.
func AttestationHandler(src AttestationSource, keys ...[]byte) http.Handler {
	return &attestationHandler{src: src, now: time.Now, turn: make(chan struct{}, 1), keys: digestKeys(keys)}
}

type attestationHandler struct {
	src  AttestationSource
	now  func() time.Time
	turn chan struct{} // one measurement at a time
	keys keyDigests
}

func (h *attestationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	acc := h.keys.of(r)
	if acc == accessDenied {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lethe-attestation"`)
		http.Error(w, "the full attestation needs the admin key or the auditor key; without credentials you get the public summary",
			http.StatusUnauthorized)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	select {
	case h.turn <- struct{}{}:
	case <-ctx.Done():
		http.Error(w, "attestation busy", http.StatusServiceUnavailable)
		return
	}
	a := Attest(h.src, h.now())
	<-h.turn
	var v any = a.Summary()
	if acc == accessFull {
		v = a
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "attestation: encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Authorization")
	_, _ = w.Write(append(body, '\n'))
}
