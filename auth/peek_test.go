package auth

import (
	"errors"
	"testing"
	"time"
)

func TestPeek(t *testing.T) {
	key := Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	now := time.Unix(1_700_000_000, 0)
	base := Claims{SDKAppID: 1400000001, UserID: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	bound := base
	bound.StrRoomID, bound.Privileges, bound.HasPrivateMap = "live", PrivAll, true
	jwtTok, err := SignJWT(key, bound)
	if err != nil {
		t.Fatal(err)
	}
	tlsTok, err := SignTLS(key, base, &PrivateMap{RoomID: 42, Privileges: PrivAll, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tlsPlain, err := SignTLS(key, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		want        Want
		err         error
	}{
		{name: "jwt", token: jwtTok, want: Want{SDKAppID: 1400000001, UserID: "alice", StrRoomID: "live"}},
		{name: "tls with userbuf", token: tlsTok, want: Want{SDKAppID: 1400000001, UserID: "alice", RoomID: 42}},
		{name: "tls", token: tlsPlain, want: Want{SDKAppID: 1400000001, UserID: "alice"}},
		{name: "empty", token: "", err: ErrMalformed},
		{name: "jwt two segments", token: "a.b", err: ErrMalformed},
		{name: "jwt bad payload", token: "a.!!.c", err: ErrMalformed},
		{name: "jwt no sub", token: "e30.eyJzZGthcHBpZCI6MX0.c", err: ErrMalformed},
		{name: "tls garbage", token: "AAAA", err: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Peek(tc.token)
			if !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
				t.Fatalf("Peek = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzPeek(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "e30.eyJzZGthcHBpZCI6MX0.c", "AAAA", "eJw_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if w, err := Peek(s); err == nil && (w.SDKAppID == 0 && w.UserID == "") {
			t.Fatalf("Peek(%q) accepted an empty claim", s)
		}
	})
}
