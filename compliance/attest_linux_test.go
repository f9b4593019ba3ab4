package compliance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSource is an AttestationSource with fixed processes.
type fakeSource struct {
	procs []ProcessInfo
}

func (f fakeSource) Processes() []ProcessInfo { return f.procs }
func (f fakeSource) Version() string          { return "test-1" }

var _ AttestationSource = fakeSource{}

// lockedPair starts a locked-down control child and a locked-down worker
// child (Landlock, seccomp) and returns them as a source.
func lockedPair(t *testing.T) (fakeSource, *child, *child) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	ctl := startHelper(t, modeControl, envDataDir+"="+data, envOutsideDir+"="+t.TempDir())
	var co controlOut
	ctl.decode(t, &co)
	wk := startHelper(t, modeSeccomp)
	var wo seccompOut
	wk.decode(t, &wo)
	cr, _ := json.Marshal(co.Report)
	wr, _ := json.Marshal(wo.Report)
	return fakeSource{procs: []ProcessInfo{
		{PID: ctl.pid(), Role: RoleControl, Report: cr},
		{PID: wk.pid(), Role: RoleWorker, Index: 0, Report: wr},
	}}, ctl, wk
}

func TestAttestLockedChildren(t *testing.T) {
	requireLandlock(t)
	requireRoot(t) // judging dumpability of a non-dumpable process from outside
	t.Parallel()
	src, ctl, wk := lockedPair(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Attest(src, now)
	js, _ := json.MarshalIndent(a, "", " ")
	if !a.Enforced || len(a.Problems) != 0 {
		t.Fatalf("attestation not enforced: %s", js)
	}
	if !a.MeasuredAt.Equal(now) || a.Version != "test-1" || len(a.Binary.SHA256) != 64 || a.Kernel.LandlockABI < 1 || len(a.CannotShow) == 0 {
		t.Errorf("header: %+v %+v %+v", a.MeasuredAt, a.Binary, a.Kernel)
	}
	if len(a.Processes) != 2 {
		t.Fatalf("processes: %s", js)
	}
	for i, p := range a.Processes {
		m := p.Measured
		if !p.Enforced || !p.SameBinary || m.Dumpable == nil || *m.Dumpable || !m.NoNewPrivs || m.CoreLimitSoft != 0 || m.StartTime == 0 || len(m.Errors) != 0 {
			t.Errorf("process %d: %+v", i, p)
		}
		if p.SelfReport == nil || len(p.SelfReport.Probes) == 0 {
			t.Errorf("process %d: no self-report", i)
		}
	}
	if w := a.Processes[1].Measured; w.SeccompMode != 2 || w.SeccompFilters < 2 || len(w.WritableFiles) != 0 {
		t.Errorf("worker measured: %+v", w)
	}
	if c := a.Processes[0].Measured; c.SeccompMode != 2 || c.Creds == nil {
		t.Errorf("control measured: %+v", c)
	}
	if w := a.Processes[1].Measured.Creds; w == nil || w.Caps()&^(1<<capIPCLock) != 0 || (os.Geteuid() == 0 && w.Root()) {
		t.Errorf("worker credentials: %+v", w)
	}
	_, _ = ctl, wk
}

// A process that only claims to be locked down is caught by what is
// measured: the self-report cannot vouch for seccomp, no_new_privs or
// dumpability.
func TestAttestCatchesAClaim(t *testing.T) {
	requireLandlock(t)
	requireRoot(t)
	t.Parallel()
	src, _, _ := lockedPair(t)
	liar := startHelper(t, modeNonDumpable) // only not dumpable
	liar.wantNoHelperErr(t)
	plain := sleeper(t)
	src.procs = append(src.procs,
		ProcessInfo{PID: liar.pid(), Role: RoleWorker, Index: 1, Report: src.procs[1].Report},
		ProcessInfo{PID: plain, Role: RoleWorker, Index: 2})
	a := Attest(src, time.Now())
	if a.Enforced {
		t.Fatal("attestation enforced with a liar and a plain process")
	}
	if !a.Processes[0].Enforced || !a.Processes[1].Enforced {
		t.Errorf("the locked processes are judged not enforced: %q %q", a.Processes[0].Problems, a.Processes[1].Problems)
	}
	liarP := strings.Join(a.Processes[2].Problems, "\n")
	for _, want := range []string{"no_new_privs", "seccomp mode 0"} {
		if !strings.Contains(liarP, want) {
			t.Errorf("liar: problems %q do not mention %q", liarP, want)
		}
	}
	plainP := strings.Join(a.Processes[3].Problems, "\n")
	for _, want := range []string{"dumpable", "no self-report", "runs a different binary"} {
		if !strings.Contains(plainP, want) {
			t.Errorf("plain: problems %q do not mention %q", plainP, want)
		}
	}
}

func TestAttestNoProcesses(t *testing.T) {
	t.Parallel()
	a := Attest(fakeSource{}, time.Now())
	if a.Enforced || len(a.Problems) != 2 {
		t.Errorf("empty source: enforced=%v problems=%q", a.Enforced, a.Problems)
	}
	if a.Swap == nil || a.Processes == nil {
		t.Error("nil lists would encode as null")
	}
}

func TestAttestationHandler(t *testing.T) {
	t.Parallel()
	self, _ := json.Marshal(Report{Role: RoleControl})
	h := AttestationHandler(fakeSource{procs: []ProcessInfo{{PID: os.Getpid(), Role: RoleControl, Report: self}}}, []byte(testKey+"\n"))
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d %v", res.StatusCode, res.Header)
	}
	var a Attestation
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Enforced || len(a.Processes) != 1 || a.Processes[0].PID != os.Getpid() || a.Version != "test-1" {
		t.Errorf("attestation of an unlocked test process: %s", body)
	}
	if time.Since(a.MeasuredAt) > time.Minute {
		t.Errorf("measuredAt %v", a.MeasuredAt)
	}

	res, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	no := false
	const pid = 42
	nobodyCreds := func() *Creds {
		ids := [4]int{nobody, nobody, nobody, nobody}
		return &Creds{UIDs: ids, GIDs: ids, Groups: []int{}}
	}
	good := func() Measurement {
		return Measurement{NoNewPrivs: true, Dumpable: &no, SeccompMode: 2, SeccompFilters: 2, ExeSHA256: "x", VmLckKB: 10, Creds: nobodyCreds()}
	}
	goodReport := func() *Report {
		return &Report{Role: RoleWorker, Enforced: true, LandlockABI: 7, LandlockApplied: true, LandlockSealed: true,
			Probes:            []Probe{{Path: "/tmp", Denied: true, Errno: "EACCES"}},
			ReadProbes:        []Probe{{Path: "/d/admin.key", Denied: true, Errno: "EACCES"}},
			LandlockRules:     []PathRule{{Path: "/proc/42", Access: []string{"read_file", "read_dir"}}, {Path: "/dev/null", Access: []string{"write_file"}}},
			LandlockSealRules: []PathRule{{Path: "/dev/null", Access: []string{"write_file"}}, {Path: "/proc/42/task", Access: []string{"read_dir"}}},
			Privileges:        &PrivilegeReport{StartUID: 0, Creds: *nobodyCreds()},
			Mlock:             &MlockReport{Locked: true},
			Seccomp:           &SeccompReport{Mode: 2, Filters: 2}}
	}
	control := func(r *Report) {
		r.Role = RoleControl
		r.LandlockRules = []PathRule{{Path: "/", Access: []string{"execute", "read_file", "read_dir"}}}
		r.Privileges, r.Mlock, r.ReadProbes = nil, nil, nil
	}
	ipcLock := CapSet(1 << capIPCLock)
	tests := []struct {
		name   string
		role   string
		m      func(*Measurement)
		r      func(*Report)
		swap   bool
		want   string // a problem that must be there; "" for none
		noteIs string
	}{
		{name: "good worker", role: RoleWorker},
		{name: "good control", role: RoleControl, m: func(m *Measurement) { m.WritableFiles = []string{"/d/lethe.db"}; m.Creds = &Creds{} },
			r: func(r *Report) { control(r); r.Probes = append(r.Probes, Probe{Path: "/d", MustAllow: true}) }},
		{name: "control log file", role: RoleControl, m: func(m *Measurement) { m.WritableFiles = []string{"/var/log/x"} },
			r: control, noteIs: "outside its data dir"},
		{name: "control without seccomp", role: RoleControl, m: func(m *Measurement) { m.SeccompMode = 0 }, r: control, want: "seccomp mode 0"},
		{name: "control no seccomp report", role: RoleControl, r: func(r *Report) { control(r); r.Seccomp = nil }, want: "no seccomp self-report"},
		{name: "writable file", role: RoleWorker, m: func(m *Measurement) { m.WritableFiles = []string{"/tmp/x"} }, want: "writable files"},
		{name: "no seccomp", role: RoleWorker, m: func(m *Measurement) { m.SeccompMode = 0 }, want: "seccomp mode 0"},
		{name: "filters lost", role: RoleWorker, m: func(m *Measurement) { m.SeccompFilters = 1 }, want: "1 filters now"},
		{name: "dumpable", role: RoleWorker, m: func(m *Measurement) { yes := true; m.Dumpable = &yes }, want: "is dumpable"},
		{name: "cannot tell", role: RoleWorker, m: func(m *Measurement) { m.Dumpable = nil }, want: "cannot tell"},
		{name: "core", role: RoleWorker, m: func(m *Measurement) { m.CoreLimitHard = 1 }, want: "core limit"},
		{name: "nnp", role: RoleWorker, m: func(m *Measurement) { m.NoNewPrivs = false }, want: "no_new_privs"},
		{name: "errors", role: RoleWorker, m: func(m *Measurement) { m.Errors = []string{"boom"} }, want: "could not measure: boom"},
		{name: "probe", role: RoleWorker, r: func(r *Report) { r.Probes[0] = Probe{Path: "/tmp"} }, want: "self-probe of /tmp"},
		{name: "no probes", role: RoleWorker, r: func(r *Report) { r.Probes = nil }, want: "no self-probe"},
		{name: "not enforced", role: RoleWorker, r: func(r *Report) { r.Enforced = false; r.Problems = []string{"w"} }, want: "not enforced: w"},
		{name: "no landlock", role: RoleWorker, r: func(r *Report) { r.LandlockApplied = false }, want: "Landlock not applied"},
		{name: "write grant", role: RoleWorker, r: func(r *Report) { r.LandlockRules[0].Access = []string{"make_reg"} }, want: "grants writing beneath /proc/42"},
		{name: "read grant", role: RoleWorker, r: func(r *Report) { r.LandlockRules[0].Path = "/" }, want: "grants reading beneath /"},
		{name: "other process's proc", role: RoleWorker, r: func(r *Report) { r.LandlockRules[0].Path = "/proc/1" }, want: "grants reading beneath /proc/1"},
		{name: "not sealed", role: RoleWorker, r: func(r *Report) { r.LandlockSealed = false }, want: "not sealed"},
		{name: "seal grants", role: RoleWorker, r: func(r *Report) {
			r.LandlockSealRules = append(r.LandlockSealRules, PathRule{Path: "/proc/42", Access: []string{"read_file"}})
		}, want: "seal grants read_file beneath /proc/42"},
		{name: "read probe", role: RoleWorker, r: func(r *Report) { r.ReadProbes[0] = Probe{Path: "/d/admin.key"} }, want: "opened /d/admin.key for reading"},
		{name: "no read probes", role: RoleWorker, r: func(r *Report) { r.ReadProbes = nil }, want: "no read probe"},
		{name: "root", role: RoleWorker, m: func(m *Measurement) { m.Creds.UIDs[1] = 0 }, want: "runs as root"},
		{name: "capability", role: RoleWorker, m: func(m *Measurement) { m.Creds.CapEff = 1 << 21 }, want: "holds capabilities cap_sys_admin"},
		{name: "ambient", role: RoleWorker, m: func(m *Measurement) { m.Creds.CapAmb = ipcLock }, want: "ambient cap_ipc_lock"},
		{name: "mixed threads", role: RoleWorker, m: func(m *Measurement) { m.Creds.MixedThreads = true }, want: "differ between threads"},
		{name: "bounding set", role: RoleWorker, m: func(m *Measurement) { m.Creds.CapBnd = 1<<41 - 1 }, noteIs: "bounding set not empty"},
		{name: "groups", role: RoleWorker, m: func(m *Measurement) { m.Creds.Groups = []int{27} }, noteIs: "supplementary groups [27]"},
		{name: "ipc_lock for mlock", role: RoleWorker,
			m: func(m *Measurement) { m.Creds.CapEff, m.Creds.CapPrm = ipcLock, ipcLock },
			r: func(r *Report) {
				r.Privileges.Kept, r.Privileges.KeptWhy = ipcLock, "limit"
				r.Mlock.WithCapability = true
			},
			noteIs: "keeps cap_ipc_lock only, for its locked memory (limit)"},
		{name: "ipc_lock without mlock", role: RoleWorker,
			m: func(m *Measurement) { m.Creds.CapEff, m.Creds.CapPrm = ipcLock, ipcLock },
			r: func(r *Report) { r.Privileges.Kept = ipcLock; r.Mlock = nil }, want: "holds capabilities cap_ipc_lock"},
		{name: "no privilege report", role: RoleWorker, r: func(r *Report) { r.Privileges = nil }, want: "no privilege report"},
		{name: "mlock failed, no swap", role: RoleWorker, r: func(r *Report) { r.Mlock = &MlockReport{Reason: "mlockall: ENOMEM"} }, noteIs: "ENOMEM"},
		{name: "mlock failed, swap", role: RoleWorker, swap: true, r: func(r *Report) { r.Mlock = &MlockReport{Reason: "mlockall: ENOMEM"} }, want: "NOT locked: mlockall: ENOMEM"},
		{name: "mlock gone", role: RoleWorker, m: func(m *Measurement) { m.VmLckKB = 0 }, want: "no memory is locked"},
		{name: "mlock off, no swap", role: RoleWorker, r: func(r *Report) { r.Mlock = nil }, noteIs: "--mlock=false"},
		{name: "mlock off, swap", role: RoleWorker, swap: true, r: func(r *Report) { r.Mlock = nil }, want: "swap is present"},
		{name: "other binary", role: RoleWorker, m: func(m *Measurement) { m.ExeSHA256 = "y" }, want: "different binary"},
		{name: "role", role: "x", want: "unknown role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ProcessAttestation{PID: pid, Role: tc.role, Measured: good(), SelfReport: goodReport(), SameBinary: true}
			if tc.m != nil {
				tc.m(&p.Measured)
			}
			if tc.r != nil {
				tc.r(p.SelfReport)
			}
			p.SameBinary = p.Measured.ExeSHA256 == "x"
			p.judge(tc.swap)
			problems, notes := p.Problems, p.Notes
			got := strings.Join(problems, "\n")
			switch {
			case tc.want == "" && len(problems) != 0:
				t.Errorf("problems: %q", problems)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("problems %q do not mention %q", problems, tc.want)
			}
			if tc.noteIs != "" && !strings.Contains(strings.Join(notes, "\n"), tc.noteIs) {
				t.Errorf("notes %q do not mention %q", notes, tc.noteIs)
			}
		})
	}
}

func BenchmarkAttest(b *testing.B) {
	self, _ := json.Marshal(Report{Role: RoleControl})
	src := fakeSource{procs: []ProcessInfo{{PID: os.Getpid(), Role: RoleControl, Report: self}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = Attest(src, time.Now())
	}
}
