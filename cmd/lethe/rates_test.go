package main

import (
	"slices"
	"testing"
)

func TestParseRates(t *testing.T) {
	got, err := parseRates("300k, 1m,0,1.5M,250000")
	if err != nil || !slices.Equal(got, []int{300_000, 1_000_000, 0, 1_500_000, 250_000}) {
		t.Fatalf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "fast", "-1k", "3x", "300k,,1m"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}
