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
	"hash"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	appA uint32 = 1400000001
	appB uint32 = 1400000002
)

var testNow = time.Unix(1_750_000_000, 0)

// fakeKeys is a KeyLookup over a map, recording every kid it is asked for.
type fakeKeys struct {
	mu    sync.Mutex
	apps  map[uint32]map[string]Key
	asked []string
	err   error // returned for every lookup when set
}

func (f *fakeKeys) Key(_ context.Context, app uint32, kid string) (Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, kid)
	if f.err != nil {
		return Key{}, f.err
	}
	ring, ok := f.apps[app]
	if !ok {
		return Key{}, ErrUnknownApp
	}
	k, ok := ring[kid]
	if !ok {
		return Key{}, ErrUnknownKey
	}
	return k, nil
}

var _ KeyLookup = (*fakeKeys)(nil)

type fixture struct {
	keyA, keyA2, keyB, sameKidB, future, retired Key
	keys                                         *fakeKeys
}

func newFixture() *fixture {
	f := &fixture{
		keyA:     Key{ID: "a1a1a1a1a1a1a1a1", Secret: bytes.Repeat([]byte{0xA1}, 32), NotBefore: testNow.Add(-time.Hour)},
		keyA2:    Key{ID: "a2a2a2a2a2a2a2a2", Secret: bytes.Repeat([]byte{0xA2}, 32), NotBefore: testNow.Add(-time.Hour)},
		keyB:     Key{ID: "b2b2b2b2b2b2b2b2", Secret: bytes.Repeat([]byte{0xB2}, 32), NotBefore: testNow.Add(-time.Hour)},
		sameKidB: Key{ID: "a1a1a1a1a1a1a1a1", Secret: bytes.Repeat([]byte{0xB3}, 32), NotBefore: testNow.Add(-time.Hour)},
		future:   Key{ID: "f0f0f0f0f0f0f0f0", Secret: bytes.Repeat([]byte{0xF0}, 32), NotBefore: testNow.Add(time.Hour)},
		retired: Key{ID: "e0e0e0e0e0e0e0e0", Secret: bytes.Repeat([]byte{0xE0}, 32),
			NotBefore: testNow.Add(-48 * time.Hour), NotAfter: testNow.Add(-time.Minute)},
	}
	f.keys = &fakeKeys{apps: map[uint32]map[string]Key{
		appA: {f.keyA.ID: f.keyA, f.keyA2.ID: f.keyA2, f.future.ID: f.future, f.retired.ID: f.retired},
		appB: {f.keyB.ID: f.keyB, f.sameKidB.ID: f.sameKidB},
	}}
	return f
}

func (f *fixture) verifier() *Verifier {
	return &Verifier{Keys: f.keys, Now: func() time.Time { return testNow }}
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

// craft builds a token by hand: header and payload as given, signed per alg
// with secret (HS*), unsigned (none), or with a random-looking blob (RS256).
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

var sentinels = []error{ErrMalformed, ErrSignature, ErrExpired, ErrUnknownApp, ErrUnknownKey, ErrUserMismatch, ErrRoomMismatch}

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

type badCase struct {
	name  string
	token string
	want  Want
	v     func(*Verifier) // optional change to the verifier
	err   error
	// neverLookup: the KeyLookup must not be asked (absurd kids, wrong
	// algs and unparsable tokens never reach the store).
	neverLookup bool
}

func catalogue(t testing.TB, f *fixture) []badCase {
	good := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow.Add(-time.Minute), ExpiresAt: testNow.Add(time.Hour)}
	goodTok := sign(t, f.keyA, good)
	room := good
	room.RoomID = 123
	strRoom := good
	strRoom.StrRoomID = "123"
	alice := Want{SDKAppID: appA, UserID: "alice"}
	aliceIn := func(id uint32, s string) Want { w := alice; w.RoomID, w.StrRoomID = id, s; return w }
	kA := f.keyA.ID
	sA := f.keyA.Secret
	long := strings.Repeat("k", 10<<10)

	return []badCase{
		{name: "good", token: goodTok, want: alice},
		{name: "good unbound token wanted in a room", token: goodTok, want: aliceIn(7, "")},
		{name: "good roomId", token: sign(t, f.keyA, room), want: aliceIn(123, "")},
		{name: "good strRoomId", token: sign(t, f.keyA, strRoom), want: aliceIn(0, "123")},
		{name: "good nbf in past", token: craft(t, "HS256", hdr("HS256", kA), payload("nbf", testNow.Unix()-10), sA), want: alice},
		{name: "good expired within leeway", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", testNow.Unix()-3), sA), want: alice},
		{name: "good iat in future within leeway", token: craft(t, "HS256", hdr("HS256", kA), payload("iat", testNow.Unix()+3), sA), want: alice},
		{name: "good extra header and claims ignored", token: craft(t, "HS256", map[string]any{"alg": "HS256", "kid": kA, "x": 1}, payload("aud", "x", "foo", []int{1}), sA), want: alice},

		{name: "alg none", token: craft(t, "none", hdr("none", kA), payload(), nil), want: alice, err: ErrSignature, neverLookup: true},
		{name: "alg None", token: craft(t, "none", hdr("None", kA), payload(), nil), want: alice, err: ErrSignature, neverLookup: true},
		{name: "alg HS384", token: craft(t, "HS384", hdr("HS384", kA), payload(), sA), want: alice, err: ErrSignature, neverLookup: true},
		{name: "alg HS512", token: craft(t, "HS512", hdr("HS512", kA), payload(), sA), want: alice, err: ErrSignature, neverLookup: true},
		{name: "alg RS256", token: craft(t, "RS256", hdr("RS256", kA), payload(), nil), want: alice, err: ErrSignature, neverLookup: true},
		{name: "HS256 MAC under RS256 header", token: craft(t, "HS256", hdr("RS256", kA), payload(), sA), want: alice, err: ErrSignature, neverLookup: true},
		{name: "alg missing", token: craft(t, "HS256", map[string]any{"kid": kA}, payload(), sA), want: alice, err: ErrSignature, neverLookup: true},
		{name: "alg not a string", token: craft(t, "HS256", map[string]any{"alg": 256, "kid": kA}, payload(), sA), want: alice, err: ErrSignature, neverLookup: true},

		{name: "exp missing", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", nil), sA), want: alice, err: ErrMalformed},
		{name: "iat missing", token: craft(t, "HS256", hdr("HS256", kA), payload("iat", nil), sA), want: alice, err: ErrMalformed},
		{name: "sub missing", token: craft(t, "HS256", hdr("HS256", kA), payload("sub", nil), sA), want: alice, err: ErrMalformed},
		{name: "sdkappid missing", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", nil), sA), want: alice, err: ErrUnknownApp},
		{name: "exp a string", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", "tomorrow"), sA), want: alice, err: ErrMalformed},
		{name: "sdkappid a string", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", "1400000001"), sA), want: alice, err: ErrMalformed},
		{name: "sdkappid negative", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", -1), sA), want: alice, err: ErrMalformed},
		{name: "sdkappid over uint32", token: craft(t, "HS256", hdr("HS256", kA), payload("sdkappid", uint64(appA)+1<<32), sA), want: alice, err: ErrMalformed},
		{name: "sub a number", token: craft(t, "HS256", hdr("HS256", kA), payload("sub", 42), sA), want: alice, err: ErrMalformed},
		{name: "both room bindings", token: craft(t, "HS256", hdr("HS256", kA), payload("roomId", 123, "strRoomId", "123"), sA), want: aliceIn(123, ""), err: ErrMalformed},
		{name: "roomId negative", token: craft(t, "HS256", hdr("HS256", kA), payload("roomId", -123), sA), want: aliceIn(123, ""), err: ErrMalformed},
		{name: "kid missing", token: craft(t, "HS256", map[string]any{"alg": "HS256"}, payload(), sA), want: alice, err: ErrMalformed, neverLookup: true},
		{name: "kid a number", token: craft(t, "HS256", map[string]any{"alg": "HS256", "kid": 7}, payload(), sA), want: alice, err: ErrMalformed, neverLookup: true},

		{name: "expired beyond leeway", token: craft(t, "HS256", hdr("HS256", kA), payload("exp", testNow.Unix()-6), sA), want: alice, err: ErrExpired},
		{name: "expired long ago", token: sign(t, f.keyA, Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow.Add(-48 * time.Hour), ExpiresAt: testNow.Add(-24 * time.Hour)}), want: alice, err: ErrExpired},
		{name: "iat in future", token: craft(t, "HS256", hdr("HS256", kA), payload("iat", testNow.Unix()+60), sA), want: alice, err: ErrExpired},
		{name: "nbf in future", token: craft(t, "HS256", hdr("HS256", kA), payload("nbf", testNow.Unix()+60), sA), want: alice, err: ErrExpired},
		{name: "key not yet valid", token: sign(t, f.future, good), want: alice, err: ErrExpired},
		{name: "key retired", token: sign(t, f.retired, good), want: alice, err: ErrExpired},

		{name: "unknown kid", token: craft(t, "HS256", hdr("HS256", "0123456789abcdef"), payload(), sA), want: alice, err: ErrUnknownKey},
		{name: "kid 10KB capped by size", token: craft(t, "HS256", hdr("HS256", long), payload(), sA), want: alice, err: ErrMalformed, neverLookup: true},
		{name: "kid 10KB under a large cap", token: craft(t, "HS256", hdr("HS256", long), payload(), sA), want: alice, err: ErrUnknownKey, neverLookup: true,
			v: func(v *Verifier) { v.MaxTokenLen = 64 << 10 }},
		{name: "kid path traversal", token: craft(t, "HS256", hdr("HS256", "../../etc/passwd"), payload(), sA), want: alice, err: ErrUnknownKey, neverLookup: true},
		{name: "kid SQL injection", token: craft(t, "HS256", hdr("HS256", "' OR 1=1--"), payload(), sA), want: alice, err: ErrUnknownKey, neverLookup: true},
		{name: "kid empty", token: craft(t, "HS256", hdr("HS256", ""), payload(), sA), want: alice, err: ErrUnknownKey, neverLookup: true},
		{name: "kid NUL", token: craft(t, "HS256", hdr("HS256", "a1a1a1a1a1a1a1a1\x00"), payload(), sA), want: alice, err: ErrUnknownKey, neverLookup: true},

		{name: "unknown app wanted", token: goodTok, want: Want{SDKAppID: 1400000999, UserID: "alice"}, err: ErrUnknownApp},
		{name: "zero app wanted", token: goodTok, want: Want{UserID: "alice"}, err: ErrUnknownApp, neverLookup: true},
		{name: "app A token at app B, kid unknown in B", token: sign(t, f.keyA2, good),
			want: Want{SDKAppID: appB, UserID: "alice"}, err: ErrUnknownKey},
		// keyB of app B shares keyA's kid but not its secret.
		{name: "app A token at app B, same kid in B", token: goodTok, want: Want{SDKAppID: appB, UserID: "alice"}, err: ErrSignature},
		{name: "app A claim signed with B's key at app B", token: sign(t, f.keyB, good), want: Want{SDKAppID: appB, UserID: "alice"}, err: ErrUnknownApp},
		{name: "app B claim signed with B's key at app A", token: sign(t, f.keyB, Claims{SDKAppID: appB, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}),
			want: alice, err: ErrUnknownKey},

		{name: "wrong user", token: goodTok, want: Want{SDKAppID: appA, UserID: "bob"}, err: ErrUserMismatch},
		{name: "user differs in case", token: goodTok, want: Want{SDKAppID: appA, UserID: "Alice"}, err: ErrUserMismatch},
		{name: "wrong roomId", token: sign(t, f.keyA, room), want: aliceIn(124, ""), err: ErrRoomMismatch},
		{name: "roomId 123 is not strRoomId 123", token: sign(t, f.keyA, room), want: aliceIn(0, "123"), err: ErrRoomMismatch},
		{name: "strRoomId 123 is not roomId 123", token: sign(t, f.keyA, strRoom), want: aliceIn(123, ""), err: ErrRoomMismatch},
		{name: "bound token, no room wanted", token: sign(t, f.keyA, room), want: alice, err: ErrRoomMismatch},

		{name: "tampered header", token: tamper(t, goodTok, 0, func(b []byte) []byte { return bytes.Replace(b, []byte(`"typ":"JWT"`), []byte(`"typ":"JWS"`), 1) }), want: alice, err: ErrSignature},
		{name: "tampered payload", token: tamper(t, goodTok, 1, func(b []byte) []byte { return bytes.Replace(b, []byte(`"alice"`), []byte(`"admin"`), 1) }), want: Want{SDKAppID: appA, UserID: "admin"}, err: ErrSignature},
		{name: "tampered signature", token: tamper(t, goodTok, 2, func(b []byte) []byte { b[0] ^= 1; return b }), want: alice, err: ErrSignature},
		{name: "truncated signature", token: tamper(t, goodTok, 2, func(b []byte) []byte { return b[:31] }), want: alice, err: ErrSignature},
		{name: "empty signature", token: goodTok[:strings.LastIndexByte(goodTok, '.')+1], want: alice, err: ErrSignature},
		{name: "non-canonical signature base64", token: noncanonical(goodTok), want: alice, err: ErrMalformed},
		{name: "padded segment", token: strings.Replace(goodTok, ".", "==.", 1), want: alice, err: ErrMalformed},

		{name: "oversized", token: goodTok + strings.Repeat("A", DefaultMaxTokenLen), want: alice, err: ErrMalformed, neverLookup: true},
		{name: "oversized under a small cap", token: goodTok, want: alice, err: ErrMalformed, neverLookup: true, v: func(v *Verifier) { v.MaxTokenLen = 64 }},
		{name: "empty", token: "", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "two segments", token: "a.b", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "four segments", token: goodTok + ".x", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "dots", token: "....", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "header not JSON", token: b64([]byte("hello")) + "." + b64([]byte("{}")) + ".", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "payload an array", token: b64json(t, hdr("HS256", kA)) + "." + b64([]byte("[]")) + ".", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "garbage", token: "\x00\xff garbage \n", want: alice, err: ErrMalformed, neverLookup: true},
		{name: "bearer prefix", token: "Bearer " + goodTok, want: alice, err: ErrMalformed, neverLookup: true},
	}
}

// noncanonical changes the last character of tok's signature so that it
// decodes to the same bytes only under lenient base64 (unused low bits set).
func noncanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[last|1])
}

func TestVerifyCatalogue(t *testing.T) {
	t.Parallel()
	f := newFixture()
	for _, tc := range catalogue(t, f) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys := &fakeKeys{apps: f.keys.apps}
			v := &Verifier{Keys: keys, Now: func() time.Time { return testNow }}
			if tc.v != nil {
				tc.v(v)
			}
			c, err := v.Verify(context.Background(), tc.token, tc.want)
			checkSentinel(t, err, tc.err)
			if tc.neverLookup && len(keys.asked) != 0 {
				t.Errorf("lookup asked for %d kids, want none", len(keys.asked))
			}
			if err != nil {
				if c != (Claims{}) {
					t.Errorf("claims returned with error: %+v", c)
				}
				for _, secret := range []string{"alice", "admin", tc.token} {
					if strings.Contains(err.Error(), secret) && secret != "" {
						t.Errorf("error text %q shows %q", err, secret)
					}
				}
				return
			}
			if c.SDKAppID != tc.want.SDKAppID || c.UserID != tc.want.UserID {
				t.Errorf("claims = %+v, want app %d user %q", c, tc.want.SDKAppID, tc.want.UserID)
			}
		})
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture()
	in := Claims{SDKAppID: appA, UserID: "user_1", StrRoomID: "room-9", IssuedAt: testNow, ExpiresAt: testNow.Add(30 * time.Minute)}
	out, err := f.verifier().Verify(context.Background(), sign(t, f.keyA, in), Want{SDKAppID: appA, UserID: "user_1", StrRoomID: "room-9"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.IssuedAt.Equal(in.IssuedAt) || !out.ExpiresAt.Equal(in.ExpiresAt) {
		t.Fatalf("times = %v..%v, want %v..%v", out.IssuedAt, out.ExpiresAt, in.IssuedAt, in.ExpiresAt)
	}
	out.IssuedAt, out.ExpiresAt, in.IssuedAt, in.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if out != in {
		t.Fatalf("claims = %+v, want %+v", out, in)
	}
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	f := newFixture()
	tok := sign(t, f.keyA, Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow.Add(-time.Hour), ExpiresAt: testNow.Add(-20 * time.Second)})
	want := Want{SDKAppID: appA, UserID: "alice"}
	v := f.verifier()
	if _, err := v.Verify(context.Background(), tok, want); !errors.Is(err, ErrExpired) {
		t.Fatalf("default leeway: err = %v, want ErrExpired", err)
	}
	v.Leeway = 30 * time.Second
	if _, err := v.Verify(context.Background(), tok, want); err != nil {
		t.Fatalf("30s leeway: err = %v", err)
	}
}

func TestVerifyLookupFailure(t *testing.T) {
	t.Parallel()
	f := newFixture()
	boom := errors.New("disk on fire")
	v := &Verifier{Keys: &fakeKeys{err: boom}, Now: func() time.Time { return testNow }}
	tok := sign(t, f.keyA, Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
	_, err := v.Verify(context.Background(), tok, Want{SDKAppID: appA, UserID: "alice"})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the lookup's error", err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			t.Fatalf("lookup failure matches %v", s)
		}
	}
}

func TestSignJWTRefuses(t *testing.T) {
	t.Parallel()
	k := Key{ID: "0123456789abcdef", Secret: make([]byte, 32)}
	ok := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		key  Key
		edit func(*Claims)
		err  error
	}{
		{name: "no kid", key: Key{Secret: make([]byte, 32)}, err: ErrInvalidKey},
		{name: "kid with slash", key: Key{ID: "a/b", Secret: make([]byte, 32)}, err: ErrInvalidKey},
		{name: "short secret", key: Key{ID: "k", Secret: make([]byte, 31)}, err: ErrInvalidKey},
		{name: "zero app", key: k, edit: func(c *Claims) { c.SDKAppID = 0 }, err: ErrInvalidClaims},
		{name: "no user", key: k, edit: func(c *Claims) { c.UserID = "" }, err: ErrInvalidClaims},
		{name: "no exp", key: k, edit: func(c *Claims) { c.ExpiresAt = time.Time{} }, err: ErrInvalidClaims},
		{name: "no iat", key: k, edit: func(c *Claims) { c.IssuedAt = time.Time{} }, err: ErrInvalidClaims},
		{name: "exp before iat", key: k, edit: func(c *Claims) { c.ExpiresAt = c.IssuedAt }, err: ErrInvalidClaims},
		{name: "two rooms", key: k, edit: func(c *Claims) { c.RoomID, c.StrRoomID = 1, "1" }, err: ErrInvalidClaims},
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
	a, err := NewKey(testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKey(testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ID) != 16 || !validKeyID(a.ID) || len(a.Secret) != SecretLen {
		t.Fatalf("key id %q, secret %d bytes", a.ID, len(a.Secret))
	}
	if a.ID == b.ID || bytes.Equal(a.Secret, b.Secret) {
		t.Fatal("two new keys are equal")
	}
	if !a.NotBefore.Equal(testNow) || !a.NotAfter.IsZero() {
		t.Fatalf("validity %v..%v", a.NotBefore, a.NotAfter)
	}
	if !a.ValidAt(testNow) || a.ValidAt(testNow.Add(-time.Second)) || !a.ValidAt(testNow.Add(1000*time.Hour)) {
		t.Fatal("ValidAt wrong")
	}
	for _, s := range []string{a.String(), a.GoString()} {
		if strings.Contains(s, string(a.Secret)) || strings.Contains(s, "Secret") {
			t.Fatalf("String shows the secret: %s", s)
		}
	}
}

func FuzzVerify(f *testing.F) {
	fx := newFixture()
	for _, tc := range catalogue(f, fx) {
		f.Add(tc.token, tc.want.UserID, tc.want.RoomID, tc.want.StrRoomID)
	}
	v := fx.verifier()
	f.Fuzz(func(t *testing.T, token, user string, room uint32, strRoom string) {
		want := Want{SDKAppID: appA, UserID: user, RoomID: room, StrRoomID: strRoom}
		c, err := v.Verify(context.Background(), token, want)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("err %v matches %d sentinels", err, n)
			}
			return
		}
		if c.SDKAppID != appA || c.UserID != user {
			t.Fatalf("admitted claims %+v for %+v", c, want)
		}
		if (c.RoomID != 0 || c.StrRoomID != "") && (c.RoomID != room || c.StrRoomID != strRoom) {
			t.Fatalf("admitted room binding %+v for %+v", c, want)
		}
		if c.ExpiresAt.Add(DefaultLeeway).Before(testNow) {
			t.Fatalf("admitted expired token %+v", c)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	fx := newFixture()
	v := fx.verifier()
	tok := sign(b, fx.keyA, Claims{SDKAppID: appA, UserID: "alice", RoomID: 9, IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
	want := Want{SDKAppID: appA, UserID: "alice", RoomID: 9}
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
