package compliance

import (
	"errors"
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

func TestParseStartTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{sampleStat, 331738, true},
		{"1 (a) b) c) R 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0\n", 77, true},
		{"1 (a b) R 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 88", 88, true},
		{"1 (a) R 0 0", 0, false},
		{"1 a R 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77", 0, false},
		{"1 (a) R 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -7", 0, false},
	}
	for _, tc := range tests {
		got, err := parseStartTime([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStartTime(%q) = %d, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%v does not match ErrMalformed", err)
		}
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

func FuzzParseStartTime(f *testing.F) {
	f.Add([]byte(sampleStat))
	f.Add([]byte("1 ()) R"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseStartTime(data); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v", err)
		}
	})
}
