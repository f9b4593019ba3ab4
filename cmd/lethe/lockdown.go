package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-rtc/lethe/compliance"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/store"
)

// lockdownFlags are serve's lock-down flags beyond --allow-unenforced.
type lockdownFlags struct {
	mlock      bool
	workerUser string
	user       *compliance.User // resolved from workerUser; nil when not root
}

func (l *lockdownFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&l.mlock, "mlock", true,
		"lock each media worker's memory (mlockall) so that media cannot be swapped out; where RLIMIT_MEMLOCK is finite and cannot be raised, a worker started as root keeps CAP_IPC_LOCK for it, any other says loudly that it is not locked")
	fs.StringVar(&l.workerUser, "worker-user", "",
		"user (name, uid or uid:gid) the media workers become; default when serve runs as root: nobody (65534); otherwise they keep serve's user")
}

// resolve turns --worker-user into ids. As root, workers must become
// someone else; as any other user they cannot, and keep serve's ids.
func (l *lockdownFlags) resolve() error {
	if os.Geteuid() != 0 {
		if l.workerUser != "" {
			u, err := lookupUser(l.workerUser)
			if err != nil {
				return err
			}
			if u.UID != os.Getuid() || u.GID != os.Getgid() {
				return fmt.Errorf("--worker-user %s: only root can start workers as another user", l.workerUser)
			}
		}
		return nil
	}
	name := l.workerUser
	if name == "" {
		name = "nobody"
	}
	u, err := lookupUser(name)
	if err != nil && l.workerUser == "" {
		u, err = &compliance.User{UID: 65534, GID: 65534}, nil // no "nobody" in the user database
	}
	if err != nil {
		return err
	}
	if u.UID == 0 || u.GID == 0 {
		return fmt.Errorf("--worker-user %s: workers may not run as root (uid or gid 0)", name)
	}
	l.user = u
	return nil
}

// lookupUser reads "name", "uid" or "uid:gid" (a uid alone takes the gid
// of its user, or the same number).
func lookupUser(v string) (*compliance.User, error) {
	if uidText, gidText, ok := strings.Cut(v, ":"); ok {
		uid, err1 := strconv.ParseUint(uidText, 10, 31)
		gid, err2 := strconv.ParseUint(gidText, 10, 31)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--worker-user %q: want name, uid or uid:gid", v)
		}
		return &compliance.User{UID: int(uid), GID: int(gid)}, nil
	}
	var u *user.User
	var err error
	if n, perr := strconv.ParseUint(v, 10, 31); perr == nil {
		if u, err = user.LookupId(v); err != nil {
			return &compliance.User{UID: int(n), GID: int(n)}, nil
		}
	} else if u, err = user.Lookup(v); err != nil {
		return nil, fmt.Errorf("--worker-user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--worker-user %s: ids %s:%s are not numbers", v, u.Uid, u.Gid)
	}
	return &compliance.User{UID: uid, GID: gid}, nil
}

// workerArgs are the `lethe worker` arguments that carry the flags, and
// the paths the worker must prove it cannot read: the data dir and the
// store's files (their names, nothing else about them).
func (l *lockdownFlags) workerArgs(info store.Info) []string {
	args := []string{"--mlock=" + strconv.FormatBool(l.mlock)}
	if l.user != nil {
		args = append(args, "--uid", strconv.Itoa(l.user.UID), "--gid", strconv.Itoa(l.user.GID))
	}
	for _, p := range []string{info.DataDir, info.AdminKeyPath, info.DBPath} {
		args = append(args, "--probe-read", p)
	}
	return args
}

// lockDownControl locks serve down to writing its data dir only, installs
// its seccomp filter, and returns its report for the attestation.
func lockDownControl(dataDir string, allowUnenforced bool, log *slog.Logger) (json.RawMessage, error) {
	opts := compliance.ControlOptions{DataDir: dataDir, AllowUnenforced: allowUnenforced}
	r, err := compliance.LockDownControl(opts)
	if err != nil {
		return nil, fmt.Errorf("serve refuses to start: %w", err)
	}
	if err := compliance.LockDownControlSyscalls(&r, opts); err != nil {
		return nil, fmt.Errorf("serve refuses to start: %w", err)
	}
	if r.Enforced {
		log.Info("control process locked down", "landlockABI", r.LandlockABI, "writable", dataDir, "seccompDenied", len(r.Seccomp.Denied))
	} else {
		log.Warn("CONTROL LOCK-DOWN NOT ENFORCED", "problems", r.Problems)
	}
	return json.Marshal(r)
}

// attestSource is the attestation's view of a running serve.
type attestSource struct {
	pool      *control.Pool
	control   json.RawMessage
	signaling compliance.Signaling // how the listener serves (tls.go)
}

var (
	_ compliance.AttestationSource = attestSource{}
	_ compliance.SignalingSource   = attestSource{}
)

func (s attestSource) Signaling() compliance.Signaling { return s.signaling }

func (s attestSource) Version() string { return version }

func (s attestSource) Processes() []compliance.ProcessInfo {
	out := []compliance.ProcessInfo{{PID: os.Getpid(), Role: compliance.RoleControl, Report: s.control}}
	for _, w := range s.pool.Workers() {
		out = append(out, compliance.ProcessInfo{PID: w.PID, Role: compliance.RoleWorker, Index: w.Index, Report: w.Report})
	}
	return out
}

// attestationPath is where serve mounts the attestation.
const attestationPath = "/v1/compliance/attestation"

// errNotEnforced is compliance status's verdict when anything is missing.
var errNotEnforced = errors.New("NOT ENFORCED")

// defaultAuditorKeyFile is the auditor key of serve's default data dir.
const defaultAuditorKeyFile = "./lethe-data/auditor.key"

// complianceStatusCommand fetches a running server's attestation, checks
// it again from this host where it can see the processes, and prints it.
// Without a key it gets the public summary only, and says so.
func complianceStatusCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compliance status", "lethe compliance status [flags]",
		"Fetches a running server's attestation and checks it again from this host, where it can see the processes.\n"+
			"The full attestation needs the server's auditor key (or its admin key); without one the public\n"+
			"summary is shown.")
	server := fs.String("server", "http://127.0.0.1:7880", "the server's HTTP base URL")
	keyFile := fs.String("key-file", defaultAuditorKeyFile,
		"file holding the auditor key (<data-dir>/auditor.key) or the admin key; if the default is missing, the public summary is fetched")
	asJSON := fs.Bool("json", false, "print the attestation as JSON")
	local := fs.Bool("local", true, "re-measure from this host the server processes it can see (same machine)")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the server")
	caFile := fs.String("ca-file", "", "PEM roots to trust for an https --server instead of the system's, e.g. a private CA")
	if err := fs.parse(args, 0, stdout, stderr); err != nil {
		return err
	}
	tc, err := caFileTLS(*caFile)
	if err != nil {
		return fs.fail(stderr, "--ca-file: %v", err)
	}
	hc := httpClient(tc, 0)
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "key-file" })
	key, err := readKeyFile(*keyFile)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return complianceSummary(ctx, hc, *server, *keyFile, *timeout, *asJSON, stdout)
	case err != nil:
		return fmt.Errorf("compliance status: --key-file: %w", err)
	}
	var a compliance.Attestation
	err = fetchAttestation(ctx, hc, *server, key, *timeout, &a)
	clear(key)
	if err != nil {
		return err
	}
	var disagree, unchecked []string
	if *local {
		disagree, unchecked = crossCheck(a)
	}
	if *asJSON {
		body, err := json.MarshalIndent(a, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", body)
		for _, d := range disagree {
			fmt.Fprintln(stderr, "local check disagrees:", d)
		}
	} else {
		printAttestation(stdout, a, disagree, unchecked, *local)
	}
	if !a.Enforced || len(disagree) > 0 {
		return fmt.Errorf("compliance status: %w (%d problems, %d local disagreements)", errNotEnforced, len(a.Problems), len(disagree))
	}
	return nil
}

// complianceSummary fetches and prints the public summary, for want of a
// key at keyFile.
func complianceSummary(ctx context.Context, hc *http.Client, server, keyFile string, timeout time.Duration, asJSON bool, stdout io.Writer) error {
	var s compliance.Summary
	if err := fetchAttestation(ctx, hc, server, nil, timeout, &s); err != nil {
		return err
	}
	if asJSON {
		body, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", body)
	} else {
		printSummary(stdout, s, keyFile)
	}
	if !s.Enforced {
		return fmt.Errorf("compliance status: %w (%d problems; the full attestation says which)", errNotEnforced, s.Problems)
	}
	return nil
}

// readKeyFile reads a key file, without its surrounding white space.
func readKeyFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key := bytes.TrimSpace(raw)
	if len(key) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return key, nil
}

// fetchAttestation GETs the attestation of the server at base into v:
// the full one with key, the public summary without.
func fetchAttestation(ctx context.Context, hc *http.Client, base string, key []byte, timeout time.Duration, v any) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("compliance status: --server %q: want http(s)://host:port", base)
	}
	u = u.JoinPath(attestationPath)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("compliance status: %w", err)
	}
	if key != nil {
		req.Header.Set("Authorization", "Bearer "+string(key))
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("compliance status: %w", err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusUnauthorized && key != nil:
		return fmt.Errorf("compliance status: %s refused the key (is --key-file this server's auditor or admin key?)", u)
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("compliance status: %s answered %s", u, res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 8<<20)).Decode(v); err != nil {
		return fmt.Errorf("compliance status: decoding the attestation: %w", err)
	}
	return nil
}

// crossCheck measures again, from this process, every attested process it
// can see (same pid and start time), and lists the disagreements with the
// server's measurement, and the processes it could not check.
func crossCheck(a compliance.Attestation) (disagree, unchecked []string) {
	for _, p := range a.Processes {
		name := p.Name()
		m := compliance.MeasureProcess(p.PID)
		if m.StartTime == 0 || m.StartTime != p.Measured.StartTime {
			unchecked = append(unchecked, name+": not visible from here")
			continue
		}
		s := p.Measured
		differ := func(what string, local, remote any) {
			disagree = append(disagree, fmt.Sprintf("%s: %s is %v here, %v in the attestation", name, what, local, remote))
		}
		if m.SeccompMode != s.SeccompMode {
			differ("seccomp mode", m.SeccompMode, s.SeccompMode)
		}
		if m.SeccompFilters != s.SeccompFilters {
			differ("seccomp filters", m.SeccompFilters, s.SeccompFilters)
		}
		if m.NoNewPrivs != s.NoNewPrivs {
			differ("no_new_privs", m.NoNewPrivs, s.NoNewPrivs)
		}
		if m.CoreLimitSoft != s.CoreLimitSoft || m.CoreLimitHard != s.CoreLimitHard {
			differ("core limit", fmt.Sprintf("%d/%d", m.CoreLimitSoft, m.CoreLimitHard), fmt.Sprintf("%d/%d", s.CoreLimitSoft, s.CoreLimitHard))
		}
		if m.Dumpable != nil && s.Dumpable != nil && *m.Dumpable != *s.Dumpable {
			differ("dumpable", *m.Dumpable, *s.Dumpable)
		}
		if m.ExeSHA256 != "" && m.ExeSHA256 != s.ExeSHA256 {
			differ("binary sha256", m.ExeSHA256, s.ExeSHA256)
		}
		if m.Creds != nil && s.Creds != nil {
			if m.Creds.UIDs != s.Creds.UIDs || m.Creds.GIDs != s.Creds.GIDs {
				differ("uids/gids", fmt.Sprint(m.Creds.UIDs, m.Creds.GIDs), fmt.Sprint(s.Creds.UIDs, s.Creds.GIDs))
			}
			if p.Role == compliance.RoleWorker && (m.Creds.Caps() != s.Creds.Caps() || m.Creds.CapBnd != s.Creds.CapBnd) {
				differ("capabilities", m.Creds.Caps().String()+" bounding "+m.Creds.CapBnd.String(),
					s.Creds.Caps().String()+" bounding "+s.Creds.CapBnd.String())
			}
		}
		if len(m.Errors) > 0 || m.Dumpable == nil {
			unchecked = append(unchecked, fmt.Sprintf("%s: partly (%s)", name, strings.Join(m.Errors, "; ")))
		}
	}
	return disagree, unchecked
}

// printAttestation writes a readable summary.
func printAttestation(w io.Writer, a compliance.Attestation, disagree, unchecked []string, local bool) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	fmt.Fprintf(w, "Lethe %s (%s), measured %s\n", a.Version, a.GoVersion, a.MeasuredAt.Format(time.RFC3339))
	fmt.Fprintf(w, "  binary:  %s\n           sha256 %s\n", a.Binary.Path, a.Binary.SHA256)
	fmt.Fprintf(w, "  kernel:  %s, Landlock ABI %d\n", a.Kernel.Release, a.Kernel.LandlockABI)
	if a.SwapPresent {
		fmt.Fprintf(w, "  swap:    PRESENT (%s): only locked memory (--mlock) stays off it\n", strings.Join(a.Swap, ", "))
	} else {
		fmt.Fprintln(w, "  swap:    none")
	}
	if a.Signaling != nil {
		fmt.Fprintf(w, "  signaling: %s\n", signalingLine(*a.Signaling))
	}
	for _, p := range a.Processes {
		state := "ENFORCED"
		if !p.Enforced {
			state = "NOT ENFORCED"
		}
		fmt.Fprintf(w, "\n%s: %s\n", p.Name(), state)
		m := p.Measured
		dumpable := "cannot tell"
		switch {
		case m.Dumpable == nil:
		case *m.Dumpable:
			dumpable = "YES"
		default:
			dumpable = "no"
		}
		fmt.Fprintf(w, "  measured now:  seccomp mode %d (%d filters), no_new_privs %s, dumpable %s, core limit %s/%s, same binary %s\n",
			m.SeccompMode, m.SeccompFilters, yes(m.NoNewPrivs), dumpable, limit(m.CoreLimitSoft), limit(m.CoreLimitHard), yes(p.SameBinary))
		fmt.Fprintf(w, "                 memory: %d MiB resident, %d MiB of address space locked (VmLck)\n", m.VmRSSKB>>10, m.VmLckKB>>10)
		if c := m.Creds; c != nil {
			groups := "none"
			if len(c.Groups) > 0 {
				groups = fmt.Sprint(c.Groups)
			}
			fmt.Fprintf(w, "                 uids %v gids %v, groups %s\n", c.UIDs, c.GIDs, groups)
			fmt.Fprintf(w, "                 capabilities: effective %s; permitted %s; inheritable %s; ambient %s; bounding %s\n",
				capText(c.CapEff), capText(c.CapPrm), capText(c.CapInh), capText(c.CapAmb), capText(c.CapBnd))
		}
		if len(m.WritableFiles) > 0 {
			fmt.Fprintf(w, "  writable files: %s\n", strings.Join(m.WritableFiles, ", "))
		}
		if r := p.SelfReport; r != nil {
			fmt.Fprintf(w, "  self-report:   Landlock ABI %d applied %s\n", r.LandlockABI, yes(r.LandlockApplied))
			for _, rule := range r.LandlockRules {
				fmt.Fprintf(w, "    allow %-40s %s\n", rule.Path, strings.Join(rule.Access, ","))
			}
			var probes []string
			for _, pr := range r.Probes {
				verdict := "denied"
				switch {
				case pr.MustAllow && pr.Passed():
					verdict = "allowed"
				case !pr.Passed():
					verdict = "FAILED " + pr.Errno
				}
				probes = append(probes, pr.Path+" "+verdict)
			}
			fmt.Fprintf(w, "    write probes: %s\n", strings.Join(probes, "; "))
			if len(r.ReadProbes) > 0 {
				var reads []string
				for _, pr := range r.ReadProbes {
					verdict := "denied"
					if !pr.Passed() {
						verdict = "FAILED " + pr.Errno
						if pr.Errno == "" {
							verdict = "FAILED: readable"
						}
					}
					reads = append(reads, pr.Path+" "+verdict)
				}
				fmt.Fprintf(w, "    read probes:  %s\n", strings.Join(reads, "; "))
			}
			if r.LandlockSealed {
				fmt.Fprintln(w, "    sealed: from then on only")
				for _, rule := range r.LandlockSealRules {
					fmt.Fprintf(w, "    allow %-40s %s\n", rule.Path, strings.Join(rule.Access, ","))
				}
			}
			if pv := r.Privileges; pv != nil {
				switched := "kept its user"
				if pv.SwitchedTo != nil {
					switched = fmt.Sprintf("became %d:%d", pv.SwitchedTo.UID, pv.SwitchedTo.GID)
				}
				fmt.Fprintf(w, "    privileges: started as uid %d, %s, kept %s", pv.StartUID, switched, pv.Kept)
				if pv.KeptWhy != "" {
					fmt.Fprintf(w, " (%s)", pv.KeptWhy)
				}
				fmt.Fprintln(w)
			}
			if s := r.Seccomp; s != nil {
				passed, allowed := 0, []string{}
				for _, sp := range s.Probes {
					if sp.Denied != sp.MustAllow {
						passed++
					}
					if sp.MustAllow {
						allowed = append(allowed, sp.Syscall)
					}
				}
				still := ""
				if len(allowed) > 0 {
					still = ", still allowed as needed: " + strings.Join(allowed, ",")
				}
				fmt.Fprintf(w, "    seccomp: %d calls denied with EPERM, foreign ABI denied %s, probes %d/%d as required%s\n",
					len(s.Denied), yes(s.ForeignArchDenied), passed, len(s.Probes), still)
			}
			if ml := r.Mlock; ml != nil {
				how := "RLIMIT_MEMLOCK " + memlockText(ml.LimitBytes)
				if ml.WithCapability {
					how += ", through cap_ipc_lock"
				}
				if !ml.Locked {
					how = ml.Reason
				}
				fmt.Fprintf(w, "    mlockall: %s (%s)\n", yes(ml.Locked), how)
			} else if p.Role == compliance.RoleWorker {
				fmt.Fprintln(w, "    mlockall: not asked for (--mlock=false)")
			}
		}
		for _, pr := range p.Problems {
			fmt.Fprintf(w, "  !! %s\n", pr)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	if local {
		fmt.Fprintln(w)
		for _, d := range disagree {
			fmt.Fprintf(w, "!! local check disagrees: %s\n", d)
		}
		for _, u := range unchecked {
			fmt.Fprintf(w, "local check skipped: %s\n", u)
		}
		if len(disagree) == 0 && len(unchecked) == 0 {
			fmt.Fprintln(w, "local check: every process re-measured from here, in agreement")
		}
	}
	fmt.Fprintln(w)
	for _, pr := range a.Problems {
		fmt.Fprintf(w, "!! %s\n", pr)
	}
	if a.Enforced && len(disagree) == 0 {
		fmt.Fprintln(w, "VERDICT: ENFORCED")
	} else {
		fmt.Fprintln(w, "VERDICT: NOT ENFORCED")
	}
}

// printSummary writes the public summary, and why it is only that.
func printSummary(w io.Writer, s compliance.Summary, keyFile string) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	fmt.Fprintf(w, "Lethe %s, measured %s\n", s.Version, s.MeasuredAt.Format(time.RFC3339))
	fmt.Fprintf(w, "SUMMARY ONLY: no key at %s; for the full attestation (process ids, measurements, problems)\n", keyFile)
	fmt.Fprintln(w, "pass --key-file <data-dir>/auditor.key (or admin.key). The local check needs the full attestation.")
	fmt.Fprintf(w, "  binary:  sha256 %s\n", s.BinarySHA256)
	fmt.Fprintf(w, "  kernel:  Landlock ABI %d\n", s.LandlockABI)
	swap := "none"
	if s.SwapPresent {
		swap = "PRESENT: only locked memory (--mlock) stays off it"
	}
	fmt.Fprintf(w, "  swap:    %s\n", swap)
	if s.Signaling != nil {
		fmt.Fprintf(w, "  signaling: %s\n", signalingLine(*s.Signaling))
	}
	for _, p := range s.Processes {
		name, state := p.Role, "ENFORCED"
		if p.Role == compliance.RoleWorker {
			name = fmt.Sprintf("worker %d", p.Index)
		}
		if !p.Enforced {
			state = "NOT ENFORCED"
		}
		fmt.Fprintf(w, "\n%s: %s\n", name, state)
		// NO in capitals is a requirement unmet; seccomp is required of
		// workers only, locked memory only with --mlock.
		optional := func(b bool) string { return strings.ToLower(yes(b)) }
		seccomp := yes(p.Seccomp)
		if p.Role != compliance.RoleWorker {
			seccomp = optional(p.Seccomp)
		}
		fmt.Fprintf(w, "  landlock %s, seccomp %s, no_new_privs %s, not dumpable %s, no core dumps %s, same binary %s, memory locked %s\n",
			yes(p.Landlock), seccomp, yes(p.NoNewPrivs), yes(p.NotDumpable), yes(p.NoCoreDumps), yes(p.SameBinary), optional(p.MemoryLocked))
	}
	fmt.Fprintf(w, "\n%d problems, %d notes (the full attestation lists them)\n", s.Problems, s.Notes)
	if s.Enforced {
		fmt.Fprintln(w, "VERDICT: ENFORCED")
	} else {
		fmt.Fprintln(w, "VERDICT: NOT ENFORCED")
	}
}

// capText is a capability set for people: "none", a few names, or how
// many.
func capText(c compliance.CapSet) string {
	if n := len(c.Names()); n > 3 {
		return fmt.Sprintf("%d capabilities", n)
	}
	return c.String()
}

// memlockText is RLIMIT_MEMLOCK for people.
func memlockText(v uint64) string {
	if v == ^uint64(0) {
		return "unlimited"
	}
	return fmt.Sprintf("%d KiB", v>>10)
}

func limit(v uint64) string {
	if v == ^uint64(0) {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// signalingLine says how clients reach the server, for compliance status.
func signalingLine(g compliance.Signaling) string {
	switch {
	case g.Scheme == "https":
		hsts := ""
		if g.HSTS {
			hsts = ", HSTS"
		}
		return fmt.Sprintf("https and wss (certificate from %s, TLS %s+%s)", g.Certificates, g.MinTLSVersion, hsts)
	case g.InsecureHTTP:
		return "PLAIN HTTP beyond loopback (--insecure-http): tokens and SDP in clear unless a TLS-terminating proxy is in front"
	case g.Loopback:
		return "plain http on loopback only (a proxy on this host may terminate TLS)"
	}
	return "plain http (" + g.Scheme + ")"
}
