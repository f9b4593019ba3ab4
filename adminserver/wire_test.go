package adminserver

import (
	"testing"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// TestWireConstants: the SDK, which may not import auth or store, spells
// their values as they do.
func TestWireConstants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ sdk, server any }{
		{admin.MaxKeyIDLen, auth.MaxKeyIDLen},
		{admin.MaxPrivileges, int(auth.PrivAll)},
		{admin.FormatJWT, auth.FormatJWT},
		{admin.FormatTLS, auth.FormatTLS},
		{admin.RoleAnchor, auth.RoleAnchor},
		{admin.RoleAudience, auth.RoleAudience},
		{admin.ConsentAdult, auth.ConsentAdult},
		{admin.ConsentParental, auth.ConsentParental},
		{admin.StatusActive, string(store.StatusActive)},
		{admin.StatusSuspended, string(store.StatusSuspended)},
		{admin.StatusTerminated, string(store.StatusTerminated)},
		{admin.KeySigning, string(store.KeySigning)},
		{admin.KeyVerifying, string(store.KeyVerifying)},
		{admin.KeyPending, string(store.KeyPending)},
		{admin.KeyExpired, string(store.KeyExpired)},
	} {
		if tc.sdk != tc.server {
			t.Errorf("admin has %v, the server %v", tc.sdk, tc.server)
		}
	}
}
