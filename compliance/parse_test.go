package compliance

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

const sampleStatus = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t5\t5\t5\nNoNewPrivs:\t1\nSeccomp:\t0\n"

func TestParseNoNewPrivs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
		ok   bool
	}{
		{sampleStatus, true, true},
		{"NoNewPrivs:\t0\n", false, true},
		{"NoNewPrivs:   1", true, true},
		{"NoNewPrivs:\t2\n", false, false},
		{"Name:\tx\n", false, false},
		{"", false, false},
		{"XNoNewPrivs:\t1\n", false, false},
	}
	for _, tc := range tests {
		got, err := parseNoNewPrivs([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseNoNewPrivs(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("parseNoNewPrivs(%q): %v does not match ErrMalformed", tc.in, err)
		}
	}
}

func TestParseIDs(t *testing.T) {
	t.Parallel()
	ids, err := parseIDs([]byte(sampleStatus), "Uid")
	if err != nil || ids != [4]int{1000, 1001, 1002, 1003} {
		t.Errorf("Uid = %v, %v", ids, err)
	}
	for _, bad := range []string{"Uid:\t1\t2\t3\n", "Uid:\t1\t2\t3\tx\n", "Uid:\t-1\t0\t0\t0\n", "Uid:\t1\t2\t3\t4\t5\n", "Gid:\t0\t0\t0\t0\n"} {
		if _, err := parseIDs([]byte(bad), "Uid"); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseIDs(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseFdinfoFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"pos:\t0\nflags:\t0100002\nmnt_id:\t25\nino:\t7\n", 0o100002, true},
		{"flags:\t02\n", 2, true},
		{"flags:\t01\n", 1, true},
		{"flags:\t0\n", 0, true},
		{"flags:\t9\n", 0, false}, // not octal
		{"flags:\t\n", 0, false},
		{"pos:\t0\n", 0, false},
	}
	for _, tc := range tests {
		got, err := parseFdinfoFlags([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseFdinfoFlags(%q) = %#o, %v", tc.in, got, err)
		}
	}
}

const sampleLimits = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
`

func TestParseCoreLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         string
		soft, hard uint64
		ok         bool
	}{
		{"real", sampleLimits, 0, math.MaxUint64, true},
		{"numbers", "Max core file size        4096                 1048576              bytes\n", 4096, 1 << 20, true},
		{"both unlimited", "Max core file size unlimited unlimited bytes", math.MaxUint64, math.MaxUint64, true},
		{"max", "Max core file size 18446744073709551615 0 bytes", math.MaxUint64, 0, true},
		{"missing row", "Max cpu time unlimited unlimited seconds\n", 0, 0, false},
		{"short row", "Max core file size 0 bytes\n", 0, 0, false},
		{"bad units", "Max core file size 0 0 blocks\n", 0, 0, false},
		{"bad number", "Max core file size -1 0 bytes\n", 0, 0, false},
		{"overflow", "Max core file size 18446744073709551616 0 bytes\n", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			soft, hard, err := parseCoreLimit([]byte(tc.in))
			if (err == nil) != tc.ok || soft != tc.soft || hard != tc.hard {
				t.Errorf("parseCoreLimit = %d, %d, %v; want %d, %d, ok=%v", soft, hard, err, tc.soft, tc.hard, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("%v does not match ErrMalformed", err)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(sampleStatus))
	f.Add([]byte("NoNewPrivs:\n"))
	f.Add([]byte("Uid:\t4294967296\t0\t0\t0\n"))
	f.Add([]byte(":\n:\x00"))
	f.Add([]byte("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 2\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseNoNewPrivs(data); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseNoNewPrivs: %v", err)
		}
		ids, err := parseIDs(data, "Uid")
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseIDs: %v", err)
		}
		for _, id := range ids {
			if id < 0 || id > math.MaxUint32 {
				t.Fatalf("parseIDs: id %d out of range", id)
			}
		}
		if c, err := parseCreds(data); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseCreds: %v", err)
		} else if err == nil && c.Groups == nil {
			t.Fatal("parseCreds: nil groups would encode as null")
		}
	})
}

func FuzzParseFdinfoFlags(f *testing.F) {
	f.Add([]byte("pos:\t0\nflags:\t0100002\nmnt_id:\t25\n"))
	f.Add([]byte("flags:\t0777777777777\n"))
	f.Add([]byte("flags:\t-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseFdinfoFlags(data)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v", err)
		}
		if n < 0 {
			t.Fatalf("negative flags %d", n)
		}
	})
}

func FuzzParseCoreLimit(f *testing.F) {
	f.Add([]byte(sampleLimits))
	f.Add([]byte("Max core file size 0 0 bytes"))
	f.Add([]byte("Max core file size"))
	f.Add([]byte("Max core file sizeunlimited unlimited bytes"))
	f.Fuzz(func(t *testing.T, data []byte) {
		soft, hard, err := parseCoreLimit(data)
		if err != nil && (!errors.Is(err, ErrMalformed) || soft != 0 || hard != 0) {
			t.Fatalf("%d %d %v", soft, hard, err)
		}
	})
}

func TestParseCreds(t *testing.T) {
	t.Parallel()
	status := "Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t0000000000004000\nCapEff:\t0000000000004000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n"
	c, err := parseCreds([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if c.UIDs[0] != 65534 || len(c.Groups) != 0 || c.CapEff != 1<<capIPCLock || c.CapPrm != 1<<capIPCLock || c.Root() ||
		c.Caps() != 1<<capIPCLock || len(c.CapBnd.Names()) != 41 || c.CapBnd.Names()[40] != "cap_checkpoint_restore" {
		t.Errorf("parseCreds = %+v", c)
	}
	root, err := parseCreds([]byte(strings.Replace(strings.Replace(status, "Uid:\t65534", "Uid:\t0", 1), "Groups:\t", "Groups:\t0 27", 1)))
	if err != nil || !root.Root() || !slices.Equal(root.Groups, []int{0, 27}) {
		t.Errorf("root: %+v, %v", root, err)
	}
	for _, bad := range []string{
		strings.Replace(status, "CapEff:\t0000000000004000", "CapEff:\t4000", 1),
		strings.Replace(status, "CapEff:\t0000000000004000", "CapEff:\t000000000000400g", 1),
		strings.Replace(status, "Groups:\t", "Groups:\tx", 1),
		strings.Replace(status, "CapAmb:\t0000000000000000\n", "", 1),
	} {
		if _, err := parseCreds([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseCreds(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	// Another thread with more: the union, and marked mixed.
	other := c
	other.CapEff = 1 << 21
	c.merge(other)
	if !c.MixedThreads || c.CapEff != 1<<capIPCLock|1<<21 {
		t.Errorf("merge: %+v", c)
	}
}

func TestCapSetJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []CapSet{0, 1 << capIPCLock, 1<<41 - 1, 1 << 50} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back CapSet
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: %s → %v, %v", s, b, back, err)
		}
	}
	if b, _ := json.Marshal(CapSet(0)); string(b) != "[]" {
		t.Errorf("no capability: %s, want []", b)
	}
	if b, _ := json.Marshal(CapSet(1<<capIPCLock | 1<<capSetPCap)); string(b) != `["cap_setpcap","cap_ipc_lock"]` {
		t.Errorf("JSON %s", b)
	}
	var s CapSet
	if err := json.Unmarshal([]byte(`["cap_bogus"]`), &s); err == nil {
		t.Error("unknown name accepted")
	}
	if CapSet(0).String() != "none" || CapSet(1<<capIPCLock).String() != "cap_ipc_lock" {
		t.Error("String")
	}
}
