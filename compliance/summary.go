package compliance

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// Summary is the public part of an Attestation: what is enforced, yes or
// no, per process role. It holds no process id, path, file name or problem
// text (those say where the data dir is and where diagnostics go); the
// full Attestation is for the holders of the admin or the auditor key.
type Summary struct {
	MeasuredAt time.Time `json:"measuredAt"`
	Version    string    `json:"version"`
	// BinarySHA256 is the SHA-256 of the control process's binary.
	BinarySHA256 string `json:"binarySHA256"`
	LandlockABI  int    `json:"landlockABI"`
	SwapPresent  bool   `json:"swapPresent"`
	// Enforced is the Attestation's verdict.
	Enforced bool `json:"enforced"`
	// Signaling is the Attestation's: how clients reach the server.
	Signaling *Signaling       `json:"signaling,omitempty"`
	Processes []ProcessSummary `json:"processes"`
	// Problems and Notes count the Attestation's findings, its processes'
	// included.
	Problems int `json:"problems"`
	Notes    int `json:"notes"`
	// Detail says how to read the full Attestation.
	Detail     string   `json:"detail"`
	CannotShow []string `json:"cannotShow"`
}

// ProcessSummary is one process of a Summary: each measure in force or not.
type ProcessSummary struct {
	Role     string `json:"role"`
	Index    int    `json:"index"`
	Enforced bool   `json:"enforced"`
	// Landlock: applied, by the process's own report, and its self-probes
	// gave the required answers.
	Landlock bool `json:"landlock"`
	// Seccomp: a seccomp filter is in force (required of workers only).
	Seccomp     bool `json:"seccomp"`
	NoNewPrivs  bool `json:"noNewPrivs"`
	NotDumpable bool `json:"notDumpable"`
	// NoCoreDumps: the core limit is 0, soft and hard.
	NoCoreDumps bool `json:"noCoreDumps"`
	SameBinary  bool `json:"sameBinary"`
	// MemoryLocked: mlockall was asked for and memory is locked now.
	MemoryLocked bool `json:"memoryLocked"`
}

// SummaryDetail is Summary.Detail.
const SummaryDetail = "public summary; the full attestation (process ids, paths, measurements, problems) " +
	"needs Authorization: Bearer <admin key or auditor key>"

// Summary returns the public part of a.
func (a Attestation) Summary() Summary {
	s := Summary{
		MeasuredAt: a.MeasuredAt, Version: a.Version, BinarySHA256: a.Binary.SHA256,
		LandlockABI: a.Kernel.LandlockABI, SwapPresent: a.SwapPresent, Enforced: a.Enforced,
		Processes: []ProcessSummary{}, Problems: len(a.Problems), Notes: len(a.Notes),
		Detail: SummaryDetail, CannotShow: a.CannotShow, Signaling: a.Signaling,
	}
	for _, p := range a.Processes {
		m, r := p.Measured, p.SelfReport
		ps := ProcessSummary{
			Role: p.Role, Index: p.Index, Enforced: p.Enforced,
			Seccomp:     m.SeccompMode == 2,
			NoNewPrivs:  m.NoNewPrivs,
			NotDumpable: m.Dumpable != nil && !*m.Dumpable,
			NoCoreDumps: m.CoreLimitSoft == 0 && m.CoreLimitHard == 0,
			SameBinary:  p.SameBinary,
		}
		if r != nil {
			ps.Landlock = r.LandlockApplied && len(r.Probes) > 0
			for _, pr := range r.Probes {
				ps.Landlock = ps.Landlock && pr.Passed()
			}
			ps.MemoryLocked = r.Mlock != nil && r.Mlock.Locked && m.VmLckKB > 0
		}
		s.Processes = append(s.Processes, ps)
		s.Problems += len(p.Problems)
		s.Notes += len(p.Notes)
	}
	return s
}

// access is what a request may read of the attestation.
type access int

const (
	accessSummary access = iota // no credentials
	accessFull                  // one of the keys
	accessDenied                // credentials that are not one of the keys
)

// maxAuthHeaderLen bounds the Authorization header looked at.
const maxAuthHeaderLen = 1024

// keyDigests are the SHA-256 digests of the keys that may read the full
// attestation; the keys themselves are not kept.
type keyDigests [][sha256.Size]byte

func digestKeys(keys [][]byte) keyDigests {
	var d keyDigests
	for _, k := range keys {
		if k := strings.TrimSpace(string(k)); k != "" {
			d = append(d, sha256.Sum256([]byte(k)))
		}
	}
	return d
}

// of decides r's access: no Authorization header reads the summary;
// "Bearer <key>" with one of the keys the full attestation; anything else
// is denied. Digests are compared in constant time, each of them.
func (d keyDigests) of(r *http.Request) access {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return accessSummary
	}
	if len(values) != 1 || len(values[0]) > maxAuthHeaderLen {
		return accessDenied
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return accessDenied
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for _, want := range d {
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	if match == 1 {
		return accessFull
	}
	return accessDenied
}
