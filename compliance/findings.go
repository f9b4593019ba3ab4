package compliance

import "fmt"

// Findings are the reasons behind a verdict, in the one vocabulary of every
// compliance report: the lock-down Report, the Attestation and each of its
// processes, and the report of compliance/verify. A problem breaks the
// promise or leaves it unshown; a note is an observation that does not.
// Enforced (and a verifier's PASS) needs no problem.
type Findings struct {
	// Problems say what is not enforced, failed or could not be measured,
	// one line each.
	Problems []string `json:"problems,omitempty"`
	// Notes are observations that do not break the promise (e.g. the
	// control process's log redirected to a file).
	Notes []string `json:"notes,omitempty"`
}

// Problemf adds a problem.
func (f *Findings) Problemf(format string, args ...any) {
	f.Problems = append(f.Problems, fmt.Sprintf(format, args...))
}

// Notef adds a note.
func (f *Findings) Notef(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

// OK reports whether there is no problem.
func (f Findings) OK() bool { return len(f.Problems) == 0 }
