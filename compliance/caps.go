package compliance

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// CapSet is a set of Linux capabilities, bit n for capability n, as the
// CapEff, CapPrm, ... fields of /proc/<pid>/status show them. In JSON it is
// the list of names ("cap_ipc_lock"), empty when there is none.
type CapSet uint64

// capNames are the capabilities of capabilities(7), by number.
var capNames = [...]string{
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
	"cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
	"cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
	"cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct",
	"cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
	"cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control",
	"cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
	"cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
}

// Capabilities named in this package's decisions.
const (
	capSetPCap     = 8
	capIPCLock     = 14
	capSysResource = 24
)

// Has says whether capability n is in s.
func (s CapSet) Has(n int) bool { return n >= 0 && n < 64 && s&(1<<n) != 0 }

// Names lists the capabilities of s by name; a number this package does
// not know is "cap_<n>".
func (s CapSet) Names() []string {
	out := []string{}
	for v := uint64(s); v != 0; v &= v - 1 {
		n := bits.TrailingZeros64(v)
		if n < len(capNames) {
			out = append(out, capNames[n])
		} else {
			out = append(out, "cap_"+strconv.Itoa(n))
		}
	}
	return out
}

// String is the names joined by commas, or "none".
func (s CapSet) String() string {
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}

// MarshalJSON writes the names.
func (s CapSet) MarshalJSON() ([]byte, error) { return json.Marshal(s.Names()) }

// UnmarshalJSON reads the names back.
func (s *CapSet) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	var v CapSet
	for _, name := range names {
		n, err := capNumber(name)
		if err != nil {
			return err
		}
		v |= 1 << n
	}
	*s = v
	return nil
}

// capNumber is the number of a capability's name.
func capNumber(name string) (int, error) {
	for i, c := range capNames {
		if c == name {
			return i, nil
		}
	}
	if num, ok := strings.CutPrefix(name, "cap_"); ok {
		if n, err := strconv.Atoi(num); err == nil && n >= 0 && n < 64 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("compliance: unknown capability %q", name)
}

// parseCapSet reads a hex capability field of a status file ("CapEff").
func parseCapSet(status []byte, key string) (CapSet, error) {
	v, err := statusField(status, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil || len(v) != 16 {
		return 0, fmt.Errorf("%w: %s %q", ErrMalformed, key, v)
	}
	return CapSet(n), nil
}

// Creds are a process's ids and capability sets, from its status files.
type Creds struct {
	// UIDs and GIDs are real, effective, saved and filesystem ids.
	UIDs [4]int `json:"uids"`
	GIDs [4]int `json:"gids"`
	// Groups are the supplementary groups.
	Groups []int `json:"groups"`
	// The capability sets: inheritable, permitted, effective, bounding,
	// ambient.
	CapInh CapSet `json:"capInh"`
	CapPrm CapSet `json:"capPrm"`
	CapEff CapSet `json:"capEff"`
	CapBnd CapSet `json:"capBnd"`
	CapAmb CapSet `json:"capAmb"`
	// MixedThreads: some thread's ids or capabilities differ from the main
	// thread's (a process's credentials are per thread on Linux). The
	// capability sets are then the union over the threads.
	MixedThreads bool `json:"mixedThreads,omitempty"`
}

// Root says whether any of the ids is 0.
func (c Creds) Root() bool {
	for i := range c.UIDs {
		if c.UIDs[i] == 0 {
			return true
		}
	}
	return false
}

// Caps is the union of the sets that give or can give a privilege now or
// after exec without a file capability: permitted, effective, inheritable
// and ambient.
func (c Creds) Caps() CapSet { return c.CapPrm | c.CapEff | c.CapInh | c.CapAmb }

// parseCreds reads the ids, groups and capability sets of a status file.
func parseCreds(status []byte) (Creds, error) {
	var c Creds
	var err error
	if c.UIDs, err = parseIDs(status, "Uid"); err != nil {
		return c, err
	}
	if c.GIDs, err = parseIDs(status, "Gid"); err != nil {
		return c, err
	}
	groups, err := statusField(status, "Groups")
	if err != nil {
		return c, err
	}
	c.Groups = []int{}
	for _, g := range strings.Fields(groups) {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return c, fmt.Errorf("%w: Groups %q", ErrMalformed, groups)
		}
		c.Groups = append(c.Groups, int(n))
	}
	for _, f := range []struct {
		key string
		v   *CapSet
	}{{"CapInh", &c.CapInh}, {"CapPrm", &c.CapPrm}, {"CapEff", &c.CapEff}, {"CapBnd", &c.CapBnd}, {"CapAmb", &c.CapAmb}} {
		if *f.v, err = parseCapSet(status, f.key); err != nil {
			return c, err
		}
	}
	return c, nil
}

// merge adds another thread's credentials to c.
func (c *Creds) merge(t Creds) {
	if t.UIDs != c.UIDs || t.GIDs != c.GIDs || !slices.Equal(t.Groups, c.Groups) ||
		t.CapInh != c.CapInh || t.CapPrm != c.CapPrm || t.CapEff != c.CapEff || t.CapBnd != c.CapBnd || t.CapAmb != c.CapAmb {
		c.MixedThreads = true
	}
	c.CapInh |= t.CapInh
	c.CapPrm |= t.CapPrm
	c.CapEff |= t.CapEff
	c.CapBnd |= t.CapBnd
	c.CapAmb |= t.CapAmb
}
