package auth

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
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
	if !ValidConsent(c.Consent) || (c.Format == FormatTLS && c.Consent != "") {
		t.Fatalf("admitted consent %q", c.Consent)
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

// FuzzVerifyJWTJSON fuzzes the JSON texts of a JWT's header and claims,
// signed with a key of the ring, which FuzzVerify could only reach by
// forging a MAC. Whatever Verify admits must read the same to a strict
// reader: one member of each name, no crit header, and the times and
// user the claims hold as plain JSON.
func FuzzVerifyJWTJSON(f *testing.F) {
	fx := newFixture()
	for _, tc := range jwtCatalogue(f, fx) {
		parts := strings.Split(tc.token, ".")
		if len(parts) != 3 {
			continue
		}
		h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
		c, err2 := base64.RawURLEncoding.DecodeString(parts[1])
		if err1 == nil && err2 == nil {
			f.Add(h, c)
		}
	}
	v, _ := fx.verifier()
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		tok := craftRaw(t, string(header), string(claims), fx.keyA.Secret)
		c, err := v.Verify(context.Background(), tok, alice())
		if err != nil {
			if n := countSentinels(err); n != 1 {
				t.Fatalf("err %v matches %d sentinels", err, n)
			}
			return
		}
		checkAdmitted(t, c, alice())
		if n := members(t, header); n["crit"] != 0 || n["alg"] != 1 || n["kid"] != 1 {
			t.Fatalf("admitted a header with members %v", n)
		}
		n := members(t, claims)
		for k, count := range n {
			if count != 1 {
				t.Fatalf("admitted claims with %d members %q", count, k)
			}
		}
		var plain map[string]any
		dec := json.NewDecoder(bytes.NewReader(claims))
		dec.UseNumber()
		if err := dec.Decode(&plain); err != nil {
			t.Fatalf("admitted claims that do not decode: %v", err)
		}
		if plain["sub"] != c.UserID || plain["exp"] != json.Number(strconv.FormatInt(c.ExpiresAt.Unix(), 10)) ||
			plain["iat"] != json.Number(strconv.FormatInt(c.IssuedAt.Unix(), 10)) {
			t.Fatalf("admitted claims %v read as %+v", plain, c)
		}
	})
}

// members counts the members of each name in the JSON object doc, at its
// top level (names unescaped).
func members(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("admitted a document that is not an object: %q", doc)
	}
	n := make(map[string]int)
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		n[k.(string)]++
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
