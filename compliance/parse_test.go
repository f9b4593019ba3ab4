package compliance

import (
	"errors"
	"math"
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
