package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	appA uint32 = 1400000001
	appB uint32 = 1400000002
	appC uint32 = 1400000003 // requires a privateMapKey
)

var testNow = time.Unix(1_750_000_000, 0)

// fakeRings is a KeyLookup over a map, counting the lookups.
type fakeRings struct {
	mu    sync.Mutex
	rings map[uint32]Ring
	asked int
	err   error // returned for every lookup when set
}

func (f *fakeRings) Ring(_ context.Context, app uint32) (Ring, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.err != nil {
		return Ring{}, f.err
	}
	r, ok := f.rings[app]
	if !ok {
		return Ring{}, ErrUnknownApp
	}
	return r, nil
}

func (f *fakeRings) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

var _ KeyLookup = (*fakeRings)(nil)

// secret makes a 64-character ASCII secret from a two-character seed.
func secret(seed string) []byte { return []byte(strings.Repeat(seed, 32)) }

type fixture struct {
	keyA, keyA2, keyB, sameKidB, keyC, future, retired, revoked, destroyed Key
	rings                                                                  map[uint32]Ring
}

func newFixture() *fixture {
	window := func(id, seed string, from, to time.Duration) Key {
		return Key{ID: id, Secret: secret(seed), NotBefore: testNow.Add(from), NotAfter: testNow.Add(to)}
	}
	f := &fixture{
		keyA:      window("a1a1a1a1a1a1a1a1", "a1", -2*time.Hour, 22*time.Hour),
		keyA2:     window("a2a2a2a2a2a2a2a2", "a2", -2*time.Hour, 22*time.Hour),
		keyB:      window("b2b2b2b2b2b2b2b2", "b2", -time.Hour, 23*time.Hour),
		sameKidB:  window("a1a1a1a1a1a1a1a1", "b3", -time.Hour, 23*time.Hour),
		keyC:      window("c1c1c1c1c1c1c1c1", "c1", -time.Hour, 23*time.Hour),
		future:    window("f0f0f0f0f0f0f0f0", "f0", time.Hour, 25*time.Hour),
		retired:   window("e0e0e0e0e0e0e0e0", "e0", -48*time.Hour, -2*time.Hour),
		revoked:   window("d0d0d0d0d0d0d0d0", "d0", -time.Hour, 23*time.Hour),
		destroyed: window("dededededededede", "de", -72*time.Hour, -49*time.Hour),
	}
	f.revoked.Revoked = true
	f.rings = map[uint32]Ring{
		appA: {Keys: []Key{f.keyA, f.keyA2, f.future, f.retired, f.revoked}, MaxTokenTTL: 24 * time.Hour},
		appB: {Keys: []Key{f.keyB, f.sameKidB}},
		appC: {Keys: []Key{f.keyC}, MaxTokenTTL: 2 * time.Hour, RequirePrivateMapKey: true},
	}
	return f
}

func (f *fixture) verifier() (*Verifier, *fakeRings) {
	keys := &fakeRings{rings: f.rings}
	return &Verifier{Keys: keys, Now: func() time.Time { return testNow }}, keys
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// craft builds a JWT by hand: header and payload as given, signed per alg
// with secret (HS*), unsigned (none), or with a random-looking blob (others).
func craft(t testing.TB, alg string, header, payload map[string]any, secret []byte) string {
	t.Helper()
	signing := b64json(t, header) + "." + b64json(t, payload)
	var h func() hash.Hash
	switch alg {
	case "HS256":
		h = sha256.New
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	case "none":
		return signing + "."
	default:
		return signing + "." + b64(bytes.Repeat([]byte{0x5A}, 256))
	}
	m := hmac.New(h, secret)
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

func hdr(alg, kid string) map[string]any {
	return map[string]any{"alg": alg, "typ": "JWT", "kid": kid}
}

// payload is a valid claim set for alice in appA, changed by kv pairs; a nil
// value deletes the claim.
func payload(kv ...any) map[string]any {
	p := map[string]any{
		"sdkappid": appA,
		"sub":      "alice",
		"iat":      testNow.Add(-time.Minute).Unix(),
		"exp":      testNow.Add(time.Hour).Unix(),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(p, kv[i].(string))
		} else {
			p[kv[i].(string)] = kv[i+1]
		}
	}
	return p
}

func sign(t testing.TB, k Key, c Claims) string {
	t.Helper()
	tok, err := SignJWT(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tamper decodes segment i of tok, lets f change it, and re-encodes it.
func tamper(t testing.TB, tok string, i int, f func([]byte) []byte) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	parts[i] = b64(f(raw))
	return strings.Join(parts, ".")
}

var sentinels = []error{ErrMalformed, ErrSignature, ErrExpired, ErrLifetime, ErrUnknownApp, ErrUnknownKey,
	ErrUserMismatch, ErrRoomMismatch, ErrPrivateMapKeyRequired}

// checkSentinel fails unless err matches want and no other sentinel.
func checkSentinel(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("err = %v matches %v as well as %v", err, s, want)
		}
	}
}

// countSentinels is how many sentinels err matches.
func countSentinels(err error) int {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

type badCase struct {
	name  string
	token string
	want  Want
	v     func(*Verifier) // optional change to the verifier
	err   error
	// neverLookup: the KeyLookup must not be asked (absurd kids, wrong
	// algs, other apps and unparsable tokens never reach the store).
	neverLookup bool
}

func alice() Want { return Want{SDKAppID: appA, UserID: "alice"} }

func aliceIn(id uint32, s string) Want { w := alice(); w.RoomID, w.StrRoomID = id, s; return w }

func jwtCatalogue(t testing.TB, f *fixture) []badCase {
	good := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow.Add(-time.Minute), ExpiresAt: testNow.Add(time.Hour)}
	goodTok := sign(t, f.keyA, good)
	with := func(edit func(*Claims)) Claims { c := good; edit(&c); return c }
	room := with(func(c *Claims) { c.RoomID = 123 })
	strRoom := with(func(c *Claims) { c.StrRoomID = "123" })
	kA := f.keyA.ID
	sA := f.keyA.Secret
	long := strings.Repeat("k", 10<<10)
	iat := testNow.Add(-time.Minute).Unix()

	cases := []badCase{
		{name: "good", token: goodTok, want: alice()},
		{name: "good unbound token wanted in a room", token: goodTok, want: aliceIn(7, "")},
		{name: "good roomId", token: sign(t, f.keyA, room), want: aliceIn(123, "")},
		{name: "good strRoomId", token: sign(t, f.keyA, strRoom), want: aliceIn(0, "123")},
		{name: "good privileges and role", token: sign(t, f.keyA, with(func(c *Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap, c.Role = 123, PrivEnter|PrivRecvAudio, true, RoleAudience
		})), want: aliceIn(123, "")},
		{name: "good second key of the ring", token: sign(t, f.keyA2, good), want: alice()},
		{name: "good retired key, token issued in its window", token: sign(t, f.retired, with(func(c *Claims) {
			c.IssuedAt, c.ExpiresAt = testNow.Add(-3*time.Hour), testNow.Add(time.Hour)
		})), want: alice()},
		{name: "good lifetime at the cap", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", iat+24*3600), sA), want: alice()},
		{name: "good nbf in past", token: craft(t, "HS256", hdr("HS256", kA), payload("nbf", testNow.Unix()-10), sA), want: alice()},
		{name: "good expired within leeway", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", testNow.Unix()-3), sA), want: alice()},
		{name: "good iat in future within leeway", token: craft(t, "HS256", hdr("HS256", kA), payload("iat", testNow.Unix()+3), sA), want: alice()},
		{name: "good extra header and claims ignored", token: craft(t, "HS256", map[string]any{"alg": "HS256", "kid": kA, "x": 1}, payload("aud", "x", "foo", []int{1}), sA), want: alice()},

		{name: "alg none", token: craft(t, "none", hdr("none", kA), payload(), nil), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg None", token: craft(t, "none", hdr("None", kA), payload(), nil), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg HS384", token: craft(t, "HS384", hdr("HS384", kA), payload(), sA), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg HS512", token: craft(t, "HS512", hdr("HS512", kA), payload(), sA), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg RS256", token: craft(t, "RS256", hdr("RS256", kA), payload(), nil), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg ES256", token: craft(t, "ES256", hdr("ES256", kA), payload(), nil), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "HS256 MAC under RS256 header", token: craft(t, "HS256", hdr("RS256", kA), payload(), sA), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "HS256 MAC under ES256 header", token: craft(t, "HS256", hdr("ES256", kA), payload(), sA), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg missing", token: craft(t, "HS256", map[string]any{"kid": kA}, payload(), sA), want: alice(), err: ErrSignature, neverLookup: true},
		{name: "alg not a string", token: craft(t, "HS256", map[string]any{"alg": 256, "kid": kA}, payload(), sA), want: alice(), err: ErrSignature, neverLookup: true},

		{name: "exp missing", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", nil), sA), want: alice(), err: ErrMalformed},
		{name: "iat missing", token: craft(t, "HS256", hdr("HS256", kA), payload("iat", nil), sA), want: alice(), err: ErrMalformed},
		{name: "sub missing", token: craft(t, "HS256", hdr("HS256", kA), payload("sub", nil), sA), want: alice(), err: ErrMalformed},
		{name: "exp before iat", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", iat-1), sA), want: alice(), err: ErrMalformed},
		{name: "sdkappid missing", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", nil), sA), want: alice(), err: ErrUnknownApp},
		{name: "exp a string", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", "tomorrow"), sA), want: alice(), err: ErrMalformed},
		{name: "sdkappid a string", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", "1400000001"), sA), want: alice(), err: ErrMalformed},
		{name: "sdkappid negative", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", -1), sA), want: alice(), err: ErrMalformed},
		{name: "sdkappid over uint32", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", uint64(appA)+1<<32), sA), want: alice(), err: ErrMalformed},
		{name: "sub a number", token: craft(t, "HS256", hdr("HS256", kA), payload("sub", 42), sA), want: alice(), err: ErrMalformed},
		{name: "both room bindings", token: craft(t, "HS256", hdr("HS256", kA), payload("roomId", 123, "strRoomId", "123"), sA), want: aliceIn(123, ""), err: ErrMalformed},
		{name: "roomId negative", token: craft(t, "HS256", hdr("HS256", kA), payload("roomId", -123), sA), want: aliceIn(123, ""), err: ErrMalformed},
		{name: "privileges 256", token: craft(t, "HS256", hdr("HS256", kA), payload("privileges", 256, "roomId", 1), sA), want: aliceIn(1, ""), err: ErrMalformed},
		{name: "privileges negative", token: craft(t, "HS256", hdr("HS256", kA), payload("privileges", -1, "roomId", 1), sA), want: aliceIn(1, ""), err: ErrMalformed},
		{name: "privileges a string", token: craft(t, "HS256", hdr("HS256", kA), payload("privileges", "255", "roomId", 1), sA), want: aliceIn(1, ""), err: ErrMalformed},
		{name: "role unknown", token: craft(t, "HS256", hdr("HS256", kA), payload("role", "admin"), sA), want: alice(), err: ErrMalformed},
		{name: "role a number", token: craft(t, "HS256", hdr("HS256", kA), payload("role", 1), sA), want: alice(), err: ErrMalformed},
		{name: "kid missing", token: craft(t, "HS256", map[string]any{"alg": "HS256"}, payload(), sA), want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "kid a number", token: craft(t, "HS256", map[string]any{"alg": "HS256", "kid": 7}, payload(), sA), want: alice(), err: ErrMalformed, neverLookup: true},

		{name: "exp beyond the cap", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", iat+24*3600+60), sA), want: alice(), err: ErrLifetime},
		{name: "exp far beyond the cap", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", iat+180*86400), sA), want: alice(), err: ErrLifetime},
		{name: "cap of the ring, not a default", token: craft(t, "HS256", hdr("HS256", f.keyC.ID), payload("sdkappid", appC, "exp", iat+3*3600, "roomId", 5, "privileges", 255), f.keyC.Secret),
			want: Want{SDKAppID: appC, UserID: "alice", RoomID: 5}, err: ErrLifetime},
		{name: "expired beyond leeway", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", testNow.Unix()-6), sA), want: alice(), err: ErrExpired},
		{name: "expired long ago", token: sign(t, f.keyA, with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = testNow.Add(-48*time.Hour), testNow.Add(-24*time.Hour) })), want: alice(), err: ErrExpired},
		{name: "iat in future", token: craft(t, "HS256", hdr("HS256", kA), payload("iat", testNow.Unix()+60), sA), want: alice(), err: ErrExpired},
		{name: "nbf in future", token: craft(t, "HS256", hdr("HS256", kA), payload("nbf", testNow.Unix()+60), sA), want: alice(), err: ErrExpired},
		{name: "key not yet valid", token: sign(t, f.future, good), want: alice(), err: ErrExpired},
		{name: "key retired, token issued after its window", token: sign(t, f.retired, good), want: alice(), err: ErrExpired},

		{name: "revoked key", token: sign(t, f.revoked, good), want: alice(), err: ErrUnknownKey},
		{name: "destroyed key", token: sign(t, f.destroyed, with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = testNow.Add(-50*time.Hour), testNow.Add(-26*time.Hour) })), want: alice(), err: ErrUnknownKey},
		{name: "destroyed key, token still in its life", token: sign(t, f.destroyed, good), want: alice(), err: ErrUnknownKey},
		{name: "unknown kid", token: craft(t, "HS256", hdr("HS256", "0123456789abcdef"), payload(), sA), want: alice(), err: ErrUnknownKey},
		{name: "kid 10KB capped by size", token: craft(t, "HS256", hdr("HS256", long), payload(), sA), want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "kid 10KB under a large cap", token: craft(t, "HS256", hdr("HS256", long), payload(), sA), want: alice(), err: ErrUnknownKey, neverLookup: true,
			v: func(v *Verifier) { v.MaxTokenLen = 64 << 10 }},
		{name: "kid path traversal", token: craft(t, "HS256", hdr("HS256", "../../etc/passwd"), payload(), sA), want: alice(), err: ErrUnknownKey, neverLookup: true},
		{name: "kid SQL injection", token: craft(t, "HS256", hdr("HS256", "' OR 1=1--"), payload(), sA), want: alice(), err: ErrUnknownKey, neverLookup: true},
		{name: "kid empty", token: craft(t, "HS256", hdr("HS256", ""), payload(), sA), want: alice(), err: ErrUnknownKey, neverLookup: true},
		{name: "kid NUL", token: craft(t, "HS256", hdr("HS256", "a1a1a1a1a1a1a1a1\x00"), payload(), sA), want: alice(), err: ErrUnknownKey, neverLookup: true},

		{name: "unknown app wanted", token: goodTok, want: Want{SDKAppID: 1400000999, UserID: "alice"}, err: ErrUnknownApp},
		{name: "zero app wanted", token: goodTok, want: Want{UserID: "alice"}, err: ErrUnknownApp, neverLookup: true},
		{name: "app A token at app B, kid unknown in B", token: sign(t, f.keyA2, good), want: Want{SDKAppID: appB, UserID: "alice"}, err: ErrUnknownKey},
		// sameKidB of app B shares keyA's kid but not its secret.
		{name: "app A token at app B, same kid in B", token: goodTok, want: Want{SDKAppID: appB, UserID: "alice"}, err: ErrSignature},
		{name: "app A claim signed with B's key at app B", token: sign(t, f.keyB, good), want: Want{SDKAppID: appB, UserID: "alice"}, err: ErrUnknownApp},
		{name: "another app's token", token: sign(t, f.keyB, with(func(c *Claims) { c.SDKAppID = appB })), want: alice(), err: ErrUnknownKey},

		{name: "wrong user", token: goodTok, want: Want{SDKAppID: appA, UserID: "bob"}, err: ErrUserMismatch},
		{name: "user differs in case", token: goodTok, want: Want{SDKAppID: appA, UserID: "Alice"}, err: ErrUserMismatch},
		{name: "wrong roomId", token: sign(t, f.keyA, room), want: aliceIn(124, ""), err: ErrRoomMismatch},
		{name: "roomId 123 is not strRoomId 123", token: sign(t, f.keyA, room), want: aliceIn(0, "123"), err: ErrRoomMismatch},
		{name: "strRoomId 123 is not roomId 123", token: sign(t, f.keyA, strRoom), want: aliceIn(123, ""), err: ErrRoomMismatch},
		{name: "bound token, no room wanted", token: sign(t, f.keyA, room), want: alice(), err: ErrRoomMismatch},

		{name: "tampered header", token: tamper(t, goodTok, 0, func(b []byte) []byte { return bytes.Replace(b, []byte(`"typ":"JWT"`), []byte(`"typ":"JWS"`), 1) }), want: alice(), err: ErrSignature},
		{name: "tampered payload", token: tamper(t, goodTok, 1, func(b []byte) []byte { return bytes.Replace(b, []byte(`"alice"`), []byte(`"admin"`), 1) }), want: Want{SDKAppID: appA, UserID: "admin"}, err: ErrSignature},
		{name: "tampered privileges", token: tamper(t, sign(t, f.keyA, with(func(c *Claims) { c.RoomID, c.Privileges, c.HasPrivateMap = 1, 42, true })), 1,
			func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"privileges":42`), []byte(`"privileges":255`), 1)
			}), want: aliceIn(1, ""), err: ErrSignature},
		{name: "tampered signature", token: tamper(t, goodTok, 2, func(b []byte) []byte { b[0] ^= 1; return b }), want: alice(), err: ErrSignature},
		{name: "truncated signature", token: tamper(t, goodTok, 2, func(b []byte) []byte { return b[:31] }), want: alice(), err: ErrSignature},
		{name: "empty signature", token: goodTok[:strings.LastIndexByte(goodTok, '.')+1], want: alice(), err: ErrSignature},
		{name: "non-canonical signature base64", token: noncanonical(goodTok), want: alice(), err: ErrMalformed},
		{name: "padded segment", token: strings.Replace(goodTok, ".", "==.", 1), want: alice(), err: ErrMalformed},

		{name: "oversized", token: goodTok + strings.Repeat("A", DefaultMaxTokenLen), want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "oversized under a small cap", token: goodTok, want: alice(), err: ErrMalformed, neverLookup: true, v: func(v *Verifier) { v.MaxTokenLen = 64 }},
		{name: "empty", token: "", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "two segments", token: "a.b", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "four segments", token: goodTok + ".x", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "dots", token: "....", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "header not JSON", token: b64([]byte("hello")) + "." + b64([]byte("{}")) + ".", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "payload an array", token: b64json(t, hdr("HS256", kA)) + "." + b64([]byte("[]")) + ".", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "garbage", token: "\x00\xff garbage \n", want: alice(), err: ErrMalformed, neverLookup: true},
		{name: "bearer prefix", token: "Bearer " + goodTok, want: alice(), err: ErrMalformed, neverLookup: true},
	}
	return append(cases, strictCatalogue(t, f)...)
}

// strictCatalogue is the JWTs that golang-jwt alone would accept, or read
// otherwise than a stricter reader would: times that are not JSON
// integers, claims of the wrong JSON type or null, duplicate members, a
// crit header. Each is signed with a key of the ring, so only the
// strictness of the JSON refuses it, before any key lookup.
func strictCatalogue(t testing.TB, f *fixture) []badCase {
	kA, sA := f.keyA.ID, f.keyA.Secret
	iat := testNow.Add(-time.Minute).Unix()
	exp := testNow.Add(time.Hour).Unix()
	num := func(s string) json.Number { return json.Number(s) }
	h := fmt.Sprintf(`{"alg":"HS256","typ":"JWT","kid":%q}`, kA)
	claims := func(extra string) string {
		return fmt.Sprintf(`{"sdkappid":%d,"sub":"alice","iat":%d,"exp":%d%s}`, appA, iat, exp, extra)
	}
	bad := func(name, tok string) badCase {
		return badCase{name: name, token: tok, want: alice(), err: ErrMalformed, neverLookup: true}
	}
	return []badCase{
		{name: "good strict: integers, strings, nested unknown claims", token: craftRaw(t, h, claims(`,"nbf":0,"x":{"a":[1,{"b":null}],"c":"d"}`), sA), want: alice()},
		{name: "good strict: escaped member names", token: craftRaw(t, h, fmt.Sprintf(`{"sdkappid":%d,"s\u0075b":"alice","iat":%d,"exp":%d}`, appA, iat, exp), sA), want: alice()},

		bad("exp a numeric string", craft(t, "HS256", hdr("HS256", kA), payload("exp", fmt.Sprint(exp)), sA)),
		bad("iat a numeric string", craft(t, "HS256", hdr("HS256", kA), payload("iat", fmt.Sprint(iat)), sA)),
		bad("nbf a numeric string", craft(t, "HS256", hdr("HS256", kA), payload("nbf", fmt.Sprint(iat)), sA)),
		bad("exp with a fraction", craft(t, "HS256", hdr("HS256", kA), payload("exp", num(fmt.Sprint(exp)+".5")), sA)),
		bad("exp with a zero fraction", craft(t, "HS256", hdr("HS256", kA), payload("exp", num(fmt.Sprint(exp)+".0")), sA)),
		bad("exp in exponent form", craft(t, "HS256", hdr("HS256", kA), payload("exp", num("1.7500036e9")), sA)),
		bad("iat with a fraction", craft(t, "HS256", hdr("HS256", kA), payload("iat", num(fmt.Sprint(iat)+".25")), sA)),
		bad("iat negative zero", craftRaw(t, h, fmt.Sprintf(`{"sdkappid":%d,"sub":"alice","iat":-0,"exp":%d}`, appA, exp), sA)),
		bad("exp negative", craft(t, "HS256", hdr("HS256", kA), payload("exp", -1), sA)),
		bad("exp beyond 2^53", craft(t, "HS256", hdr("HS256", kA), payload("exp", num("9007199254740993")), sA)),
		bad("exp null", craftRaw(t, h, fmt.Sprintf(`{"sdkappid":%d,"sub":"alice","iat":%d,"exp":null}`, appA, iat), sA)),
		bad("exp an object", craft(t, "HS256", hdr("HS256", kA), payload("exp", map[string]int{"s": 1}), sA)),
		bad("exp true", craft(t, "HS256", hdr("HS256", kA), payload("exp", true), sA)),
		bad("sdkappid with a fraction", craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", num(fmt.Sprint(appA)+".0")), sA)),
		bad("sdkappid null", craftRaw(t, h, fmt.Sprintf(`{"sdkappid":null,"sub":"alice","iat":%d,"exp":%d}`, iat, exp), sA)),
		bad("sub null", craftRaw(t, h, fmt.Sprintf(`{"sdkappid":%d,"sub":null,"iat":%d,"exp":%d}`, appA, iat, exp), sA)),
		bad("privileges null", craftRaw(t, h, claims(`,"roomId":1,"privileges":null`), sA)),
		bad("privileges with a fraction", craft(t, "HS256", hdr("HS256", kA), payload("privileges", num("42.0"), "roomId", 1), sA)),
		bad("roomId a string", craft(t, "HS256", hdr("HS256", kA), payload("roomId", "1"), sA)),
		bad("strRoomId a number", craft(t, "HS256", hdr("HS256", kA), payload("strRoomId", 1), sA)),
		bad("role null", craftRaw(t, h, claims(`,"role":null`), sA)),

		{name: "data false", token: craftRaw(t, h, claims(`,"data":false`), sA), want: alice()},
		{name: "data true", token: craftRaw(t, h, claims(`,"data":true`), sA), want: alice()},
		bad("data a string", craftRaw(t, h, claims(`,"data":"false"`), sA)),
		bad("data a number", craftRaw(t, h, claims(`,"data":0`), sA)),
		bad("data null", craftRaw(t, h, claims(`,"data":null`), sA)),
		bad("data in capitals", craftRaw(t, h, claims(`,"DATA":false`), sA)),
		{name: "good consent adult", token: craftRaw(t, h, claims(`,"consent":"adult"`), sA), want: alice()},
		{name: "good consent parental", token: craftRaw(t, h, claims(`,"consent":"parental"`), sA), want: alice()},
		{name: "consent of an unknown basis", token: craftRaw(t, h, claims(`,"consent":"child"`), sA), want: alice(), err: ErrMalformed},
		{name: "consent empty", token: craftRaw(t, h, claims(`,"consent":""`), sA), want: alice()},
		{name: "consent in capitals", token: craftRaw(t, h, claims(`,"consent":"ADULT"`), sA), want: alice(), err: ErrMalformed},
		bad("consent true", craftRaw(t, h, claims(`,"consent":true`), sA)),
		bad("consent null", craftRaw(t, h, claims(`,"consent":null`), sA)),
		bad("consent a list", craftRaw(t, h, claims(`,"consent":["adult"]`), sA)),
		bad("duplicate consent", craftRaw(t, h, claims(`,"consent":"parental","consent":"adult"`), sA)),
		bad("a claim in capitals", craftRaw(t, h, fmt.Sprintf(`{"sdkappid":%d,"SUB":"alice","iat":%d,"exp":%d}`, appA, iat, exp), sA)),
		bad("a claim in mixed case, as a string", craftRaw(t, h, claims(`,"eXp":"1750000000"`), sA)),
		bad("a claim spelt with a long s", craftRaw(t, h, fmt.Sprintf(`{"sdkappid":%d,"\u017fub":"alice","iat":%d,"exp":%d}`, appA, iat, exp), sA)),
		bad("a claim spelt with a Kelvin sign", craftRaw(t, h, fmt.Sprintf(`{"sd\u212aappid":%d,"sub":"alice","iat":%d,"exp":%d}`, appA, iat, exp), sA)),
		bad("a second sub in another case", craftRaw(t, h, claims(`,"Sub":"bob"`), sA)),
		bad("a registered claim in another case", craftRaw(t, h, claims(`,"ISS":"x"`), sA)),
		{name: "good unknown claim like no claim", token: craftRaw(t, h, claims(`,"subject":"bob","EXPIRES":1`), sA), want: alice()},
		{name: "good header member in capitals (a header is read by exact name)", token: craftRaw(t, fmt.Sprintf(`{"alg":"HS256","kid":%q,"ALG":"none"}`, kA), claims(""), sA), want: alice()},
		bad("duplicate sub", craftRaw(t, h, claims(`,"sub":"bob"`), sA)),
		bad("duplicate exp", craftRaw(t, h, claims(fmt.Sprintf(`,"exp":%d`, exp+60)), sA)),
		bad("duplicate sdkappid", craftRaw(t, h, claims(fmt.Sprintf(`,"sdkappid":%d`, appB)), sA)),
		bad("duplicate privileges", craftRaw(t, h, claims(`,"roomId":1,"privileges":42,"privileges":255`), sA)),
		bad("duplicate claim spelt with an escape", craftRaw(t, h, claims(`,"s\u0075b":"bob"`), sA)),
		bad("duplicate member in an unknown claim", craftRaw(t, h, claims(`,"x":{"a":1,"a":2}`), sA)),
		bad("duplicate member deep in an array", craftRaw(t, h, claims(`,"x":[[{"a":1,"b":{"c":1,"c":1}}]]`), sA)),
		bad("duplicate alg", craftRaw(t, fmt.Sprintf(`{"alg":"none","alg":"HS256","kid":%q}`, kA), claims(""), sA)),
		bad("duplicate kid", craftRaw(t, fmt.Sprintf(`{"alg":"HS256","kid":"0123456789abcdef","kid":%q}`, kA), claims(""), sA)),
		bad("duplicate typ", craftRaw(t, fmt.Sprintf(`{"alg":"HS256","typ":"JWT","typ":"JWT","kid":%q}`, kA), claims(""), sA)),
		bad("crit header", craftRaw(t, fmt.Sprintf(`{"alg":"HS256","kid":%q,"crit":["exp"],"exp":1}`, kA), claims(""), sA)),
		bad("crit header empty", craftRaw(t, fmt.Sprintf(`{"alg":"HS256","kid":%q,"crit":[]}`, kA), claims(""), sA)),
		bad("crit header b64 (RFC 7797)", craftRaw(t, fmt.Sprintf(`{"alg":"HS256","kid":%q,"b64":false,"crit":["b64"]}`, kA), claims(""), sA)),
		bad("claims not UTF-8", craftRaw(t, h, claims(",\"x\":\"\xff\""), sA)),
		bad("header not UTF-8", craftRaw(t, fmt.Sprintf("{\"alg\":\"HS256\",\"kid\":%q,\"x\":\"\xfe\"}", kA), claims(""), sA)),
		bad("claims nested too deep", craftRaw(t, h, claims(`,"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)), sA)),
		bad("claims with data after the object", craftRaw(t, h, claims("")+` {}`, sA)),
		bad("claims an object then garbage", craftRaw(t, h, claims("")+`x`, sA)),
	}
}

// craftRaw signs the JSON texts header and claims, as they are, with
// HS256 under secret.
func craftRaw(t testing.TB, header, claims string, secret []byte) string {
	t.Helper()
	signing := b64([]byte(header)) + "." + b64([]byte(claims))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

// noncanonical changes the last character of tok's signature so that it
// decodes to the same bytes only under lenient base64 (unused low bits set).
func noncanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[last|1])
}

// runCatalogue verifies every case with a fresh lookup counter.
func runCatalogue(t *testing.T, f *fixture, cases []badCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, keys := f.verifier()
			if tc.v != nil {
				tc.v(v)
			}
			c, err := v.Verify(context.Background(), tc.token, tc.want)
			checkSentinel(t, err, tc.err)
			if tc.neverLookup && keys.count() != 0 {
				t.Errorf("lookup asked %d times, want none", keys.count())
			}
			if keys.count() > 1 {
				t.Errorf("lookup asked %d times, want at most one", keys.count())
			}
			if err != nil {
				if c != (Claims{}) {
					t.Errorf("claims returned with error: %+v", c)
				}
				for _, s := range []string{"alice", "admin", tc.token} {
					if s != "" && strings.Contains(err.Error(), s) {
						t.Errorf("error text %q shows %q", err, s)
					}
				}
				return
			}
			if c.SDKAppID != tc.want.SDKAppID || c.UserID != tc.want.UserID || c.KeyID == "" || c.Format == "" {
				t.Errorf("claims = %+v, want app %d user %q", c, tc.want.SDKAppID, tc.want.UserID)
			}
		})
	}
}

func TestVerifyJWTCatalogue(t *testing.T) {
	t.Parallel()
	f := newFixture()
	runCatalogue(t, f, jwtCatalogue(t, f))
}

func TestVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture()
	v, _ := f.verifier()
	in := Claims{SDKAppID: appA, UserID: "user_1", StrRoomID: "room-9", IssuedAt: testNow, ExpiresAt: testNow.Add(30 * time.Minute),
		Privileges: PrivEnter | PrivSendAudio, HasPrivateMap: true, Role: RoleAnchor, Consent: ConsentParental, NoData: true}
	out, err := v.Verify(context.Background(), sign(t, f.keyA2, in), Want{SDKAppID: appA, UserID: "user_1", StrRoomID: "room-9"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.IssuedAt.Equal(in.IssuedAt) || !out.ExpiresAt.Equal(in.ExpiresAt) {
		t.Fatalf("times = %v..%v, want %v..%v", out.IssuedAt, out.ExpiresAt, in.IssuedAt, in.ExpiresAt)
	}
	if out.KeyID != f.keyA2.ID || out.Format != FormatJWT {
		t.Fatalf("key %q format %q", out.KeyID, out.Format)
	}
	out.IssuedAt, out.ExpiresAt, in.IssuedAt, in.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	out.KeyID, out.Format = "", ""
	if out != in {
		t.Fatalf("claims = %+v, want %+v", out, in)
	}

	// Without a privileges claim: PrivAll, no private map, no role.
	plain := Claims{SDKAppID: appA, UserID: "u", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Minute), Privileges: PrivSendAudio}
	out, err = v.Verify(context.Background(), sign(t, f.keyA, plain), Want{SDKAppID: appA, UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Privileges != PrivAll || out.HasPrivateMap || out.Role != "" || out.Consent != "" || out.NoData {
		t.Fatalf("plain token claims %+v", out)
	}
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	f := newFixture()
	tok := sign(t, f.keyA, Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow.Add(-time.Hour), ExpiresAt: testNow.Add(-20 * time.Second)})
	v, _ := f.verifier()
	if _, err := v.Verify(context.Background(), tok, alice()); !errors.Is(err, ErrExpired) {
		t.Fatalf("default leeway: err = %v, want ErrExpired", err)
	}
	v.Leeway = 30 * time.Second
	if _, err := v.Verify(context.Background(), tok, alice()); err != nil {
		t.Fatalf("30s leeway: err = %v", err)
	}
}

func TestVerifyLookupFailure(t *testing.T) {
	t.Parallel()
	f := newFixture()
	boom := errors.New("disk on fire")
	v := &Verifier{Keys: &fakeRings{err: boom}, Now: func() time.Time { return testNow }}
	c := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	tls, err := SignTLS(f.keyA, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{sign(t, f.keyA, c), tls} {
		_, err := v.Verify(context.Background(), tok, alice())
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the lookup's error", err)
		}
		if n := countSentinels(err); n != 0 {
			t.Fatalf("lookup failure matches %d sentinels", n)
		}
	}
	if _, err := (&Verifier{}).Verify(context.Background(), tls, alice()); err == nil || countSentinels(err) != 0 {
		t.Fatalf("no lookup: err = %v", err)
	}
}

func TestSignJWTRefuses(t *testing.T) {
	t.Parallel()
	k := Key{ID: "0123456789abcdef", Secret: secret("00")}
	ok := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		key  Key
		edit func(*Claims)
		err  error
	}{
		{name: "no kid", key: Key{Secret: secret("00")}, err: ErrInvalidKey},
		{name: "kid with slash", key: Key{ID: "a/b", Secret: secret("00")}, err: ErrInvalidKey},
		{name: "short secret", key: Key{ID: "k", Secret: make([]byte, 31)}, err: ErrInvalidKey},
		{name: "zero app", key: k, edit: func(c *Claims) { c.SDKAppID = 0 }, err: ErrInvalidClaims},
		{name: "no user", key: k, edit: func(c *Claims) { c.UserID = "" }, err: ErrInvalidClaims},
		{name: "no exp", key: k, edit: func(c *Claims) { c.ExpiresAt = time.Time{} }, err: ErrInvalidClaims},
		{name: "no iat", key: k, edit: func(c *Claims) { c.IssuedAt = time.Time{} }, err: ErrInvalidClaims},
		{name: "exp before iat", key: k, edit: func(c *Claims) { c.ExpiresAt = c.IssuedAt }, err: ErrInvalidClaims},
		{name: "two rooms", key: k, edit: func(c *Claims) { c.RoomID, c.StrRoomID = 1, "1" }, err: ErrInvalidClaims},
		{name: "privileges 256", key: k, edit: func(c *Claims) { c.Privileges, c.HasPrivateMap = 256, true }, err: ErrInvalidClaims},
		{name: "unknown role", key: k, edit: func(c *Claims) { c.Role = "host" }, err: ErrInvalidClaims},
		{name: "unknown consent basis", key: k, edit: func(c *Claims) { c.Consent = "implied" }, err: ErrInvalidClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			if tc.edit != nil {
				tc.edit(&c)
			}
			if _, err := SignJWT(tc.key, c); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	t.Parallel()
	a, err := NewKey(testNow.Add(300*time.Millisecond), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKey(testNow, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ID) != 16 || !ValidKeyID(a.ID) || len(a.Secret) != SecretLen {
		t.Fatalf("key id %q, secret %d bytes", a.ID, len(a.Secret))
	}
	for _, c := range a.Secret {
		if !strings.ContainsRune("0123456789abcdef", rune(c)) {
			t.Fatalf("secret is not lowercase hex ASCII")
		}
	}
	if a.ID == b.ID || bytes.Equal(a.Secret, b.Secret) {
		t.Fatal("two new keys are equal")
	}
	if !a.NotBefore.Equal(testNow) || !a.NotAfter.Equal(testNow.Add(24*time.Hour)) || a.Revoked {
		t.Fatalf("window %v..%v", a.NotBefore, a.NotAfter)
	}
	if !a.ValidAt(testNow) || a.ValidAt(testNow.Add(-time.Second)) || a.ValidAt(testNow.Add(24*time.Hour)) || !a.ValidAt(testNow.Add(24*time.Hour-time.Second)) {
		t.Fatal("ValidAt wrong")
	}
	if !(Key{NotBefore: testNow}).ValidAt(testNow.Add(1000 * time.Hour)) {
		t.Fatal("open window closed")
	}
	for _, s := range []string{a.String(), a.GoString()} {
		if strings.Contains(s, string(a.Secret)) || strings.Contains(s, "Secret") {
			t.Fatalf("String shows the secret: %s", s)
		}
	}
	for _, lifetime := range []time.Duration{0, -time.Hour, time.Millisecond} {
		if _, err := NewKey(testNow, lifetime); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("lifetime %v: err = %v, want ErrInvalidKey", lifetime, err)
		}
	}
}

func TestPrivilege(t *testing.T) {
	t.Parallel()
	if PrivAll != 255 || PrivCreateRoom != 1 || PrivRecvSubStream != 128 || PrivSendVideo != 16 {
		t.Fatal("privilege values differ from TRTC's")
	}
	p := PrivEnter | PrivRecvAudio | PrivRecvVideo // TRTC's 42
	if p != 42 || !p.Has(PrivEnter) || !p.Has(PrivEnter|PrivRecvVideo) || p.Has(PrivSendVideo) || p.Has(PrivEnter|PrivSendAudio) {
		t.Fatal("Has wrong")
	}
	for p, want := range map[Privilege]string{0: "none", 42: "enter|recv-audio|recv-video", 256 | 1: "create|invalid"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint32(p), got, want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	fx := newFixture()
	v, _ := fx.verifier()
	tok := sign(b, fx.keyA, Claims{SDKAppID: appA, UserID: "alice", RoomID: 9, IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
	want := aliceIn(9, "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok, want); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignJWT(b *testing.B) {
	fx := newFixture()
	c := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignJWT(fx.keyA, c); err != nil {
			b.Fatal(err)
		}
	}
}
