package auth

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestJWTReadClaims pins jwtReadClaims to the JSON names encoding/json
// reads into jwtClaims, the embedded jwt.RegisteredClaims' included: a
// claim added there and not here would be read in any case again.
func TestJWTReadClaims(t *testing.T) {
	t.Parallel()
	var names []string
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				names = append(names, name)
			}
		}
	}
	walk(reflect.TypeFor[jwtClaims]())
	got, want := slices.Sorted(slices.Values(jwtReadClaims)), slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Fatalf("jwtReadClaims %v, jwtClaims reads %v", got, want)
	}
	for name := range jwtClaimKinds {
		if !slices.Contains(jwtReadClaims, name) {
			t.Errorf("jwtClaimKinds names %q, which jwtClaims does not read", name)
		}
	}
}
