package compliance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

const (
	sampleSeccompStatus = "Name:\tlethe\nVmLck:\t    1024 kB\nVmRSS:\t   20480 kB\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n"
	sampleSwaps         = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0                              partition\t8388604\t\t0\t\t100\n/swap file\tfile\t1024\t0\t-2\n"
	sampleStat          = "10886 (cat) R 10882 10882 2053 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 331738 3133440 383 18446744073709551615 0 0 0\n"
)

func TestParseSeccomp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		mode, filters int
		ok            bool
	}{
		{sampleSeccompStatus, 2, 3, true},
		{sampleStatus, 0, -1, true}, // no Seccomp_filters: an old kernel
		{"Seccomp:\t1\nSeccomp_filters:\t0\n", 1, 0, true},
		{"Seccomp:\t3\n", 0, 0, false},
		{"Seccomp:\t-1\n", 0, 0, false},
		{"Seccomp:\tx\n", 0, 0, false},
		{"Seccomp:\t2\nSeccomp_filters:\t-2\n", 0, 0, false},
		{"Name:\tx\n", 0, 0, false},
	}
	for _, tc := range tests {
		m, f, err := parseSeccomp([]byte(tc.in))
		if (err == nil) != tc.ok || m != tc.mode || f != tc.filters {
			t.Errorf("parseSeccomp(%q) = %d, %d, %v", tc.in, m, f, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("parseSeccomp(%q): %v does not match ErrMalformed", tc.in, err)
		}
	}
}

func TestParseKB(t *testing.T) {
	t.Parallel()
	if n, err := parseKB([]byte(sampleSeccompStatus), "VmLck"); err != nil || n != 1024 {
		t.Errorf("VmLck = %d, %v", n, err)
	}
	if n, err := parseKB([]byte(sampleSeccompStatus), "VmRSS"); err != nil || n != 20480 {
		t.Errorf("VmRSS = %d, %v", n, err)
	}
	for _, bad := range []string{"VmLck:\t12\n", "VmLck:\tx kB\n", "VmLck:\t-1 kB\n", ""} {
		if _, err := parseKB([]byte(bad), "VmLck"); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseKB(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseSwaps(t *testing.T) {
	t.Parallel()
	got, err := parseSwaps([]byte(sampleSwaps))
	if err != nil || !slices.Equal(got, []string{"/dev/zram0", "/swap"}) {
		t.Errorf("parseSwaps = %q, %v", got, err)
	}
	got, err = parseSwaps([]byte("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"))
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("parseSwaps(no swap) = %#v, %v", got, err)
	}
	for _, bad := range []string{"", "x\n", "Filename\n/dev/sda1 partition\n"} {
		if _, err := parseSwaps([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseSwaps(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// tail is fields 5 to 21 of a stat line, then starttime (22) and vsize.
	const tail = " 123 123 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 %s 3133440"
	line := func(head, start string) string { return head + fmt.Sprintf(tail, start) }
	tests := []struct {
		in   string
		want Stat
		ok   bool
	}{
		{sampleStat, Stat{PID: 10886, Comm: "cat", PPID: 10882, StartTime: 331738}, true},
		{line("123 (lethe) S 45", "77"), Stat{PID: 123, Comm: "lethe", PPID: 45, StartTime: 77}, true},
		{line("7 (a) b) (c) R 1", "88"), Stat{PID: 7, Comm: "a) b) (c", PPID: 1, StartTime: 88}, true},
		{line("1 (a b) R 0", "99") + "\n", Stat{PID: 1, Comm: "a b", PPID: 0, StartTime: 99}, true},
		{line("x (a) S 1", "77"), Stat{}, false},
		{line("5 a S 1", "77"), Stat{}, false},
		{line("5 (a) S -3", "77"), Stat{}, false},
		{line("1 (a) R 0", "-7"), Stat{}, false},
		{"123 (lethe) S 45 123 123 0 -1", Stat{}, false}, // no starttime
		{"5 (a) S", Stat{}, false},
		{"", Stat{}, false},
	}
	for _, tc := range tests {
		got, err := parseStat([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%v does not match ErrMalformed", err)
		}
	}
}

const sampleIO = `rchar: 2243
wchar: 100067
syscr: 9
syscw: 6
read_bytes: 4096
write_bytes: 102400
cancelled_write_bytes: 8192
`

func TestParseIO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want IO
		ok   bool
	}{
		{"kernel output", sampleIO, IO{RChar: 2243, WChar: 100067, ReadBytes: 4096, WriteBytes: 102400, CancelledWriteBytes: 8192}, true},
		{"blank lines and unknown fields", "\nfoo: 1\n" + sampleIO + "\n", IO{RChar: 2243, WChar: 100067, ReadBytes: 4096, WriteBytes: 102400, CancelledWriteBytes: 8192}, true},
		{"missing write_bytes", "rchar: 1\nwchar: 2\nread_bytes: 3\ncancelled_write_bytes: 4\n", IO{}, false},
		{"not a number", "rchar: x\nwchar: 2\nread_bytes: 3\nwrite_bytes: 1\ncancelled_write_bytes: 4\n", IO{}, false},
		{"negative", "rchar: -1\nwchar: 2\nread_bytes: 3\nwrite_bytes: 1\ncancelled_write_bytes: 4\n", IO{}, false},
		{"no colon", "rchar 1\n", IO{}, false},
		{"empty", "", IO{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseIO([]byte(tt.in))
			if tt.ok != (err == nil) || got != tt.want {
				t.Fatalf("parseIO = %+v, %v", got, err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
		})
	}
}

func TestIOSub(t *testing.T) {
	t.Parallel()
	a := IO{WriteBytes: 10, WChar: 5}
	b := IO{WriteBytes: 4, WChar: 9}
	if d := a.Sub(b); d.WriteBytes != 6 || d.WChar != 0 {
		t.Fatalf("Sub = %+v", d)
	}
}

func FuzzParseSeccompStatus(f *testing.F) {
	f.Add([]byte(sampleSeccompStatus))
	f.Add([]byte("Seccomp:\t2\nSeccomp_filters:\t99999999999999999999\n"))
	f.Add([]byte("VmLck:\t kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, fl, err := parseSeccomp(data)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseSeccomp: %v", err)
		}
		if err == nil && (m < 0 || m > 2 || fl < -1) {
			t.Fatalf("parseSeccomp: %d %d", m, fl)
		}
		if _, err := parseKB(data, "VmLck"); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseKB: %v", err)
		}
	})
}

func FuzzParseSwaps(f *testing.F) {
	f.Add([]byte(sampleSwaps))
	f.Add([]byte("Filename\n\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseSwaps(data)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v", err)
		}
		if err == nil && got == nil {
			t.Fatal("nil list without error")
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(sampleStat))
	f.Add([]byte("7 (a) b) (c) R 1 7"))
	f.Add([]byte("1 ()) R"))
	f.Add([]byte(")("))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStat(data)
		if err != nil && (!errors.Is(err, ErrMalformed) || st != Stat{}) {
			t.Fatalf("%+v, %v", st, err)
		}
		if err == nil && (st.PID < 1 || st.PPID < 0) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte(sampleIO))
	f.Add([]byte("rchar: 18446744073709551615\n"))
	f.Add([]byte(":::\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		io, err := parseIO(b)
		if err != nil && (!errors.Is(err, ErrMalformed) || io != IO{}) {
			t.Fatalf("%+v, %v", io, err)
		}
	})
}
