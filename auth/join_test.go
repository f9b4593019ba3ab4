package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestVerifyJoin(t *testing.T) {
	t.Parallel()
	f := newFixture()
	iat, exp := testNow.Add(-time.Minute), testNow.Add(time.Hour)
	claims := func(app uint32, user string, edit func(*Claims)) Claims {
		c := Claims{SDKAppID: app, UserID: user, IssuedAt: iat, ExpiresAt: exp}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	jwtTok := func(k Key, c Claims) string { return sign(t, k, c) }
	tlsTok := func(k Key, c Claims, pm *PrivateMap) string {
		tok, err := SignTLS(k, c, pm)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	room5 := func(p Privilege) *PrivateMap { return &PrivateMap{RoomID: 5, Privileges: p} }
	inC := Want{SDKAppID: appC, UserID: "alice", RoomID: 5}
	inA := Want{SDKAppID: appA, UserID: "alice", RoomID: 5}
	plainC := jwtTok(f.keyC, claims(appC, "alice", nil))
	plainCTLS := tlsTok(f.keyC, claims(appC, "alice", nil), nil)

	for _, tc := range []struct {
		name          string
		userSig, pmk  string
		want          Want
		err           error
		priv          Privilege
		hasPrivateMap bool
		role          string
		consent       string
	}{
		{name: "not required, plain UserSig", userSig: jwtTok(f.keyA, claims(appA, "alice", nil)), want: inA, priv: PrivAll},
		{name: "not required, plain TLS UserSig", userSig: tlsTok(f.keyA, claims(appA, "alice", nil), nil), want: inA, priv: PrivAll},
		{name: "not required, with privateMapKey", userSig: jwtTok(f.keyA, claims(appA, "alice", nil)),
			pmk: tlsTok(f.keyA, claims(appA, "alice", nil), room5(PrivEnter)), want: inA, priv: PrivEnter, hasPrivateMap: true},
		{name: "required, plain JWT", userSig: plainC, want: inC, err: ErrPrivateMapKeyRequired},
		{name: "required, plain TLS", userSig: plainCTLS, want: inC, err: ErrPrivateMapKeyRequired},
		{name: "required, JWT with privileges and room", userSig: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap, c.Role = 5, 42, true, RoleAudience
		})), want: inC, priv: 42, hasPrivateMap: true, role: RoleAudience},
		{name: "required, JWT with privileges but no room", userSig: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
			c.Privileges, c.HasPrivateMap = 42, true
		})), want: inC, err: ErrPrivateMapKeyRequired},
		{name: "required, TLS UserSig with userbuf", userSig: tlsTok(f.keyC, claims(appC, "alice", nil), room5(PrivAll)), want: inC, priv: PrivAll, hasPrivateMap: true},
		{name: "required, TLS privateMapKey", userSig: plainCTLS, pmk: tlsTok(f.keyC, claims(appC, "alice", nil), room5(42)), want: inC, priv: 42, hasPrivateMap: true},
		{name: "required, JWT privateMapKey", userSig: plainC, pmk: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap = 5, PrivEnter|PrivRecvVideo, true
		})), want: inC, priv: PrivEnter | PrivRecvVideo, hasPrivateMap: true},
		{name: "privileges of both intersect", userSig: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap, c.Role = 5, PrivAll&^PrivSendVideo, true, RoleAnchor
		})), pmk: tlsTok(f.keyC, claims(appC, "alice", nil), room5(PrivEnter|PrivSendVideo|PrivSendAudio)), want: inC,
			priv: PrivEnter | PrivSendAudio, hasPrivateMap: true, role: RoleAnchor},
		{name: "role from the privateMapKey", userSig: plainC, pmk: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap, c.Role = 5, 255, true, RoleAudience
		})), want: inC, priv: 255, hasPrivateMap: true, role: RoleAudience},
		{name: "consent of the UserSig", userSig: jwtTok(f.keyA, claims(appA, "alice", func(c *Claims) { c.Consent = ConsentParental })),
			want: inA, priv: PrivAll, consent: ConsentParental},
		{name: "consent from a JWT privateMapKey, TLS UserSig", userSig: plainCTLS, pmk: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
			c.RoomID, c.Privileges, c.HasPrivateMap, c.Consent = 5, 255, true, ConsentAdult
		})), want: inC, priv: 255, hasPrivateMap: true, consent: ConsentAdult},
		{name: "consent of the UserSig before the privateMapKey's", userSig: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) { c.Consent = ConsentParental })),
			pmk: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) {
				c.RoomID, c.Privileges, c.HasPrivateMap, c.Consent = 5, 255, true, ConsentAdult
			})), want: inC, priv: 255, hasPrivateMap: true, consent: ConsentParental},
		{name: "privateMapKey of another room", userSig: plainC, pmk: tlsTok(f.keyC, claims(appC, "alice", nil), &PrivateMap{RoomID: 6, Privileges: 255}), want: inC, err: ErrRoomMismatch},
		{name: "privateMapKey of string room 5", userSig: plainC, pmk: tlsTok(f.keyC, claims(appC, "alice", nil), &PrivateMap{StrRoomID: "5", Privileges: 255}), want: inC, err: ErrRoomMismatch},
		{name: "privateMapKey of another user", userSig: plainC, pmk: tlsTok(f.keyC, claims(appC, "bob", nil), room5(255)), want: inC, err: ErrUserMismatch},
		{name: "privateMapKey of another app", userSig: plainC, pmk: tlsTok(f.keyA, claims(appA, "alice", nil), room5(255)), want: inC, err: ErrUnknownApp},
		{name: "privateMapKey expired", userSig: plainC, pmk: tlsTok(f.keyC, claims(appC, "alice", nil), &PrivateMap{RoomID: 5, Privileges: 255, ExpiresAt: testNow.Add(-time.Minute)}),
			want: inC, err: ErrExpired},
		{name: "privateMapKey without userbuf", userSig: plainC, pmk: plainCTLS, want: inC, err: ErrMalformed},
		{name: "privateMapKey JWT without privileges", userSig: plainC, pmk: jwtTok(f.keyC, claims(appC, "alice", func(c *Claims) { c.RoomID = 5 })), want: inC, err: ErrMalformed},
		{name: "privateMapKey garbage", userSig: plainC, pmk: "garbage!", want: inC, err: ErrMalformed},
		{name: "bad UserSig, good privateMapKey", userSig: tlsTok(f.keyC, claims(appC, "bob", nil), nil), pmk: tlsTok(f.keyC, claims(appC, "alice", nil), room5(255)),
			want: inC, err: ErrUserMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, keys := f.verifier()
			c, err := v.VerifyJoin(context.Background(), tc.userSig, tc.pmk, tc.want)
			checkSentinel(t, err, tc.err)
			if n := keys.count(); n != 1 {
				t.Errorf("lookup asked %d times, want once", n)
			}
			if err != nil {
				if c != (Claims{}) {
					t.Errorf("claims with error: %+v", c)
				}
				return
			}
			if c.Privileges != tc.priv || c.HasPrivateMap != tc.hasPrivateMap || c.Role != tc.role || c.Consent != tc.consent || c.UserID != "alice" {
				t.Fatalf("claims %+v, want privileges %v private map %v role %q consent %q", c, tc.priv, tc.hasPrivateMap, tc.role, tc.consent)
			}
			if tc.hasPrivateMap && (c.RoomID != 5 || c.StrRoomID != "") {
				t.Fatalf("room binding %d %q", c.RoomID, c.StrRoomID)
			}
			// Verify is VerifyJoin without privateMapKey.
			if tc.pmk == "" {
				c2, err := v.Verify(context.Background(), tc.userSig, tc.want)
				if err != nil || c2 != c {
					t.Fatalf("Verify = %+v, %v; VerifyJoin = %+v", c2, err, c)
				}
			}
		})
	}
}

func TestVerifyPrivateMapKey(t *testing.T) {
	t.Parallel()
	f := newFixture()
	c := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	num, err := SignTLS(f.keyA, c, &PrivateMap{RoomID: 123, Privileges: 42})
	if err != nil {
		t.Fatal(err)
	}
	str, err := SignTLS(f.keyA, c, &PrivateMap{StrRoomID: "123", Privileges: 42})
	if err != nil {
		t.Fatal(err)
	}
	jc := c
	jc.RoomID, jc.Privileges, jc.HasPrivateMap = 123, 42, true
	jwtPM := sign(t, f.keyA, jc)
	plain, err := SignTLS(f.keyA, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		want        Want
		err         error
	}{
		{"tls numeric room", num, aliceIn(123, ""), nil},
		{"tls string room", str, aliceIn(0, "123"), nil},
		{"jwt", jwtPM, aliceIn(123, ""), nil},
		{"numeric 123 for string 123", num, aliceIn(0, "123"), ErrRoomMismatch},
		{"string 123 for numeric 123", str, aliceIn(123, ""), ErrRoomMismatch},
		{"jwt for string 123", jwtPM, aliceIn(0, "123"), ErrRoomMismatch},
		{"another room", num, aliceIn(124, ""), ErrRoomMismatch},
		{"no room wanted", num, alice(), ErrRoomMismatch},
		{"plain UserSig", plain, aliceIn(123, ""), ErrMalformed},
		{"another user", num, Want{SDKAppID: appA, UserID: "bob", RoomID: 123}, ErrUserMismatch},
		{"another app", num, Want{SDKAppID: appB, UserID: "alice", RoomID: 123}, ErrUnknownApp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, _ := f.verifier()
			got, err := v.VerifyPrivateMapKey(context.Background(), tc.token, tc.want)
			checkSentinel(t, err, tc.err)
			if err == nil && (got.Privileges != 42 || !got.HasPrivateMap) {
				t.Fatalf("claims %+v", got)
			}
		})
	}
}

// TestRotation follows one old and one new key across a rotation: tokens of
// both verify while they live, the old key's stop when their life ends.
func TestRotation(t *testing.T) {
	t.Parallel()
	const ttl = 24 * time.Hour
	t0 := testNow
	old := Key{ID: "old", Secret: secret("0l"), NotBefore: t0, NotAfter: t0.Add(24 * time.Hour)}
	next := Key{ID: "new", Secret: secret("nw"), NotBefore: t0.Add(23 * time.Hour), NotAfter: t0.Add(47 * time.Hour)}
	ring := Ring{Keys: []Key{old, next}, MaxTokenTTL: ttl}
	at := func(now time.Time, r Ring) *Verifier {
		return &Verifier{Keys: KeyLookupFunc(func(context.Context, uint32) (Ring, error) { return r, nil }), Now: func() time.Time { return now }}
	}
	issue := func(k Key, iat time.Time) []string {
		c := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: iat, ExpiresAt: iat.Add(ttl)}
		tls, err := SignTLS(k, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return []string{sign(t, k, c), tls}
	}
	check := func(v *Verifier, toks []string, want error) {
		t.Helper()
		for _, tok := range toks {
			_, err := v.Verify(context.Background(), tok, alice())
			checkSentinel(t, err, want)
		}
	}

	t1 := t0.Add(23*time.Hour + 59*time.Minute) // the old key's last minute
	oldToks, newToks := issue(old, t1), issue(next, t1)
	check(at(t1, ring), append(oldToks, newToks...), nil)
	// The old key's window has closed: its tokens still live.
	check(at(t0.Add(25*time.Hour), ring), append(oldToks, newToks...), nil)
	// Past their exp (and the leeway), they do not.
	check(at(t1.Add(ttl+DefaultLeeway+time.Second), ring), oldToks, ErrExpired)

	// The latest token the old key can make dies at LastTokenExpiry.
	last := old.LastTokenExpiry(ttl, DefaultLeeway)
	latest := issue(old, old.NotAfter.Add(DefaultLeeway))
	check(at(last, ring), latest, nil)
	check(at(last.Add(time.Second), ring), latest, ErrExpired)
	check(at(old.NotAfter, ring), issue(old, old.NotAfter.Add(DefaultLeeway+time.Second)), ErrExpired)
	// Then the old key can go; the new key's tokens are untouched.
	destroyed := Ring{Keys: []Key{next}, MaxTokenTTL: ttl}
	check(at(last.Add(time.Second), destroyed), issue(next, next.NotAfter.Add(-time.Hour)), nil)
	// A destroyed key is unknown to a JWT's kid; a TLSSigAPIv2 token names
	// no key, and its iat lies in the new key's window: a bad signature.
	check(at(last.Add(time.Second), destroyed), latest[:1], ErrUnknownKey)
	check(at(last.Add(time.Second), destroyed), latest[1:], ErrSignature)
	if !(Key{}).LastTokenExpiry(ttl, DefaultLeeway).IsZero() {
		t.Fatal("an open key has a last token expiry")
	}
}

// TestRotationNeverBreaks simulates five days of daily keys, each created an
// hour before the previous one stops signing and destroyed at its
// LastTokenExpiry: every token issued with the cap's lifetime verifies, in
// both formats, until its exp, and never after.
func TestRotationNeverBreaks(t *testing.T) {
	t.Parallel()
	const (
		ttl  = 24 * time.Hour
		life = 24 * time.Hour
	)
	t0 := testNow
	var keys []Key
	for i := range 6 {
		nb := t0.Add(time.Duration(i) * life)
		if i > 0 {
			nb = nb.Add(-time.Hour)
		}
		keys = append(keys, Key{ID: fmt.Sprintf("k%d", i), Secret: secret(fmt.Sprintf("%02d", i)), NotBefore: nb, NotAfter: t0.Add(time.Duration(i+1) * life)})
	}
	type issued struct {
		tok string
		exp time.Time
	}
	var toks []issued
	for now := t0; now.Before(t0.Add(5 * life)); now = now.Add(97 * time.Minute) {
		var ring Ring
		ring.MaxTokenTTL = ttl
		var signer *Key
		for i := range keys {
			k := keys[i]
			if now.Before(k.NotBefore.Add(-time.Hour)) || now.After(k.LastTokenExpiry(ttl, DefaultLeeway)) {
				continue // not created yet, or destroyed
			}
			ring.Keys = append(ring.Keys, k)
			if k.ValidAt(now) {
				signer = &keys[i] // the newest valid key signs
			}
		}
		if signer == nil {
			t.Fatalf("no signing key at %v", now.Sub(t0))
		}
		c := Claims{SDKAppID: appA, UserID: "alice", IssuedAt: now, ExpiresAt: now.Add(ttl)}
		tls, err := SignTLS(*signer, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, issued{sign(t, *signer, c), c.ExpiresAt}, issued{tls, c.ExpiresAt})

		v := &Verifier{Keys: KeyLookupFunc(func(context.Context, uint32) (Ring, error) { return ring, nil }), Now: func() time.Time { return now }}
		for _, it := range toks {
			_, err := v.Verify(context.Background(), it.tok, alice())
			alive := !now.After(it.exp.Add(DefaultLeeway))
			if alive && err != nil {
				t.Fatalf("at +%v a live token (exp +%v) fails: %v", now.Sub(t0), it.exp.Sub(t0), err)
			}
			if !alive && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("at +%v a dead token (exp +%v): err = %v", now.Sub(t0), it.exp.Sub(t0), err)
			}
		}
	}
}
