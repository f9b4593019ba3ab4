package auth

import (
	"compress/zlib"
	"context"
	"testing"
	"time"
)

// checkAdmitted fails unless claims c, admitted for want at testNow, honour
// want and the fixture's rules.
func checkAdmitted(t *testing.T, c Claims, want Want) {
	t.Helper()
	if c.SDKAppID != want.SDKAppID || c.UserID != want.UserID {
		t.Fatalf("admitted claims %+v for %+v", c, want)
	}
	if c.bound() && (c.RoomID != want.RoomID || c.StrRoomID != want.StrRoomID) {
		t.Fatalf("admitted room binding %+v for %+v", c, want)
	}
	if c.ExpiresAt.Add(DefaultLeeway).Before(testNow) || c.IssuedAt.After(testNow.Add(DefaultLeeway)) {
		t.Fatalf("admitted a token outside its life %+v", c)
	}
	if c.ExpiresAt.Sub(c.IssuedAt) > 24*time.Hour {
		t.Fatalf("admitted a token beyond the cap %+v", c)
	}
	if c.Privileges&^PrivAll != 0 || (!c.HasPrivateMap && c.Privileges != PrivAll) {
		t.Fatalf("admitted privileges %v", c.Privileges)
	}
	if c.KeyID == "" || (c.Format != FormatJWT && c.Format != FormatTLS) {
		t.Fatalf("admitted without key or format %+v", c)
	}
}

func FuzzVerify(f *testing.F) {
	fx := newFixture()
	for _, tc := range append(jwtCatalogue(f, fx), tlsCatalogue(f, fx)...) {
		f.Add(tc.token, tc.want.UserID, tc.want.RoomID, tc.want.StrRoomID)
	}
	v, _ := fx.verifier()
	f.Fuzz(func(t *testing.T, token, user string, room uint32, strRoom string) {
		want := Want{SDKAppID: appA, UserID: user, RoomID: room, StrRoomID: strRoom}
		c, err := v.Verify(context.Background(), token, want)
		if err != nil {
			if n := countSentinels(err); n != 1 {
				t.Fatalf("err %v matches %d sentinels", err, n)
			}
			return
		}
		checkAdmitted(t, c, want)
	})
}

// FuzzVerifyTLS fuzzes the JSON inside a TLSSigAPIv2 token, which the
// base64 and zlib layers would otherwise keep FuzzVerify from reaching.
func FuzzVerifyTLS(f *testing.F) {
	fx := newFixture()
	base := fx.tlsSpec()
	exp := testNow.Add(time.Hour)
	for _, s := range []tlsSpec{
		base,
		base.with(func(s *tlsSpec) {
			s.userbuf = ub(f, "alice", appA, PrivateMap{RoomID: 123, Privileges: 42, ExpiresAt: exp})
		}),
		base.with(func(s *tlsSpec) {
			s.userbuf = ub(f, "alice", appA, PrivateMap{StrRoomID: "123", Privileges: 255, ExpiresAt: exp})
		}),
		base.with(func(s *tlsSpec) { s.json = field("TLS.sdkappid", "1400000001") }),
		base.with(func(s *tlsSpec) { s.json = field("TLS.extra", 1) }),
	} {
		f.Add(s.doc(f), uint8(123), "")
		f.Add(s.doc(f), uint8(0), "123")
	}
	f.Add([]byte(`{"TLS.ver":"2.0"}`), uint8(0), "")
	f.Add([]byte(`[]`), uint8(0), "")
	v, _ := fx.verifier()
	f.Fuzz(func(t *testing.T, doc []byte, room uint8, strRoom string) {
		if len(doc) > MaxTLSDocLen {
			return
		}
		tok := tlsToken(t, doc, zlib.BestSpeed, nil)
		want := Want{SDKAppID: appA, UserID: "alice", RoomID: uint32(room), StrRoomID: strRoom}
		c, err := v.Verify(context.Background(), tok, want)
		if err != nil {
			if n := countSentinels(err); n != 1 {
				t.Fatalf("err %v matches %d sentinels", err, n)
			}
			return
		}
		checkAdmitted(t, c, want)
	})
}
