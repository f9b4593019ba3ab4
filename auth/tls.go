package auth

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TLSSigAPIv2, as TRTC's public tls-sig-api-v2 libraries produce it (learnt
// from tencentyun/tls-sig-api-v2-golang tencentyun/TLSSigAPI.go and
// tencentyun/tls-sig-api-v2-python TLSSigAPIv2.py; the Java, Node, PHP and
// C++ libraries agree):
//
//   - a JSON object {"TLS.ver":"2.0", "TLS.identifier": user id,
//     "TLS.sdkappid": number, "TLS.expire": lifetime in seconds, "TLS.time":
//     unix seconds, "TLS.userbuf": standard base64 (optional), "TLS.sig"};
//   - TLS.sig is the standard base64 of HMAC-SHA256, keyed with the secret's
//     ASCII bytes, over the lines "TLS.identifier:%s\n" "TLS.sdkappid:%d\n"
//     "TLS.time:%d\n" "TLS.expire:%d\n", then "TLS.userbuf:%s\n" (the
//     base64 text) when there is a userbuf;
//   - the JSON zlib-compressed (the libraries use levels 0, 1 and the
//     default; any is accepted), then standard base64 with '+' -> '*',
//     '/' -> '-', '=' -> '_'.
//
// Where the libraries differ we accept what each of them writes: any
// field order, spacing and valid escaping (PHP writes "\/", Go a trailing
// newline), any zlib level. The types are the ones all of them write:
// TLS.sdkappid, TLS.time and TLS.expire are JSON numbers, canonical
// integers (no sign, leading zero, fraction or exponent; a string holding
// a number is refused); the others strings. Everything else is strict.

const tlsVersion = "2.0"

// SignTLS returns c as a TLSSigAPIv2 UserSig signed with key's secret, as
// the official libraries would, with TLS.time c.IssuedAt and TLS.expire
// c.ExpiresAt-c.IssuedAt (whole seconds). With pm it carries a TLS.userbuf
// (see EncodeUserBuf): that makes it a privateMapKey, bound to pm's room
// with pm's privileges; pm's zero ExpiresAt means c.ExpiresAt. TLSSigAPIv2
// has no kid, no role and no consent; a room binding or privileges in c
// must come with pm and agree with it. The lifetime cap and the key's signing window are
// the caller's business.
func SignTLS(key Key, c Claims, pm *PrivateMap) (string, error) {
	if len(key.Secret) < MinSecretLen {
		return "", ErrInvalidKey
	}
	if err := checkSignable(c); err != nil {
		return "", err
	}
	iat, exp := c.IssuedAt.Unix(), c.ExpiresAt.Unix()
	switch {
	case !validIdentifier(c.UserID):
		return "", errInvalidClaims("user id: 1..65535 bytes of UTF-8 without control characters")
	case c.Role != "":
		return "", errInvalidClaims("TLSSigAPIv2 carries no role")
	case c.Consent != "":
		return "", errInvalidClaims("TLSSigAPIv2 carries no consent: sign a JWT")
	case iat <= 0 || iat > math.MaxUint32 || exp-iat > math.MaxUint32:
		return "", errInvalidClaims("iat or lifetime out of range")
	}
	d := tlsDoc{ver: tlsVersion, identifier: c.UserID, sdkAppID: c.SDKAppID, time: iat, expire: exp - iat}
	if pm == nil {
		if c.bound() || c.HasPrivateMap {
			return "", errInvalidClaims("a TLSSigAPIv2 token binds a room or privileges only through a PrivateMap")
		}
	} else {
		p := *pm
		if p.ExpiresAt.IsZero() {
			p.ExpiresAt = c.ExpiresAt
		}
		if c.bound() && (c.RoomID != p.RoomID || c.StrRoomID != p.StrRoomID) {
			return "", errInvalidClaims("room binding differs from the PrivateMap's")
		}
		if c.HasPrivateMap && c.Privileges != p.Privileges {
			return "", errInvalidClaims("privileges differ from the PrivateMap's")
		}
		ub, err := EncodeUserBuf(c.UserID, c.SDKAppID, p)
		if err != nil {
			return "", err
		}
		d.userbuf, d.hasUserbuf = base64.StdEncoding.EncodeToString(ub), true
	}
	m := hmac.New(sha256.New, key.Secret)
	m.Write(d.content(make([]byte, 0, 128)))

	doc, err := json.Marshal(tlsJSON{
		Ver:        d.ver,
		Identifier: d.identifier,
		SDKAppID:   d.sdkAppID,
		Expire:     d.expire,
		Time:       d.time,
		UserBuf:    d.userbuf,
		Sig:        base64.StdEncoding.EncodeToString(m.Sum(nil)),
	})
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(doc); err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return tlsURLReplacer.Replace(base64.StdEncoding.EncodeToString(z.Bytes())), nil
}

var tlsURLReplacer = strings.NewReplacer("+", "*", "/", "-", "=", "_")

// tlsJSON is the JSON that SignTLS writes, in the Python library's order.
type tlsJSON struct {
	Ver        string `json:"TLS.ver"`
	Identifier string `json:"TLS.identifier"`
	SDKAppID   uint32 `json:"TLS.sdkappid"`
	Expire     int64  `json:"TLS.expire"`
	Time       int64  `json:"TLS.time"`
	UserBuf    string `json:"TLS.userbuf,omitempty"`
	Sig        string `json:"TLS.sig"`
}

// tlsDoc is a decoded TLSSigAPIv2 token.
type tlsDoc struct {
	ver        string
	identifier string
	sdkAppID   uint32
	time       int64 // unix seconds, 0..MaxUint32
	expire     int64 // seconds, 0..MaxUint32
	userbuf    string
	hasUserbuf bool
	userbufRaw []byte
	sig        []byte
}

// content appends the signed lines of d to b.
func (d *tlsDoc) content(b []byte) []byte {
	b = append(b, "TLS.identifier:"...)
	b = append(b, d.identifier...)
	b = append(b, "\nTLS.sdkappid:"...)
	b = strconv.AppendUint(b, uint64(d.sdkAppID), 10)
	b = append(b, "\nTLS.time:"...)
	b = strconv.AppendInt(b, d.time, 10)
	b = append(b, "\nTLS.expire:"...)
	b = strconv.AppendInt(b, d.expire, 10)
	b = append(b, '\n')
	if d.hasUserbuf {
		b = append(b, "TLS.userbuf:"...)
		b = append(b, d.userbuf...)
		b = append(b, '\n')
	}
	return b
}

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }

// decodeTLS undoes the URL-safe base64, the zlib compression and the JSON
// of a TLSSigAPIv2 token. Every error matches ErrMalformed.
func decodeTLS(token string) (tlsDoc, error) {
	if token == "" || len(token)%4 != 0 {
		return tlsDoc{}, malformed("length")
	}
	std := make([]byte, len(token))
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			std[i] = c
		case c == '*':
			std[i] = '+'
		case c == '-':
			std[i] = '/'
		case c == '_':
			std[i] = '='
		default:
			return tlsDoc{}, malformed("character outside the alphabet")
		}
	}
	z := make([]byte, base64.StdEncoding.DecodedLen(len(std)))
	n, err := base64.StdEncoding.Strict().Decode(z, std)
	if err != nil {
		return tlsDoc{}, malformed("base64")
	}
	doc, err := inflate(z[:n])
	if err != nil {
		return tlsDoc{}, err
	}
	return parseTLSDoc(doc)
}

// inflate decompresses one zlib stream that must fill z exactly and
// inflate to at most MaxTLSDocLen bytes.
func inflate(z []byte) ([]byte, error) {
	br := bytes.NewReader(z)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, malformed("zlib")
	}
	doc, err := io.ReadAll(io.LimitReader(zr, MaxTLSDocLen+1))
	switch {
	case len(doc) > MaxTLSDocLen:
		return nil, malformed("inflates beyond the cap")
	case err != nil:
		return nil, malformed("zlib")
	case br.Len() != 0:
		return nil, malformed("bytes after the zlib stream")
	}
	return doc, nil
}

// TLSSigAPIv2 JSON fields, as bits of a set.
const (
	fVer = 1 << iota
	fIdentifier
	fSDKAppID
	fTime
	fExpire
	fUserBuf
	fSig
	fRequired = fVer | fIdentifier | fSDKAppID | fTime | fExpire | fSig
)

var tlsFields = map[string]int{
	"TLS.ver": fVer, "TLS.identifier": fIdentifier, "TLS.sdkappid": fSDKAppID,
	"TLS.time": fTime, "TLS.expire": fExpire, "TLS.userbuf": fUserBuf, "TLS.sig": fSig,
}

// parseTLSDoc parses the JSON of a TLSSigAPIv2 token: one object holding
// each known field at most once, the required ones present, no other field,
// no nested value, nothing after it but white space.
func parseTLSDoc(doc []byte) (tlsDoc, error) {
	if !utf8.Valid(doc) {
		return tlsDoc{}, malformed("JSON not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return tlsDoc{}, malformed("JSON not an object")
	}
	var (
		d    tlsDoc
		seen int
	)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return tlsDoc{}, malformed("JSON")
		}
		key, _ := kt.(string)
		bit := tlsFields[key]
		if bit == 0 || seen&bit != 0 {
			return tlsDoc{}, malformed("unknown or repeated JSON field")
		}
		seen |= bit
		v, err := dec.Token()
		if err != nil {
			return tlsDoc{}, malformed("JSON")
		}
		if err := d.set(bit, v); err != nil {
			return tlsDoc{}, err
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return tlsDoc{}, malformed("JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return tlsDoc{}, malformed("data after the JSON object")
	}
	if seen&fRequired != fRequired {
		return tlsDoc{}, malformed("JSON field missing")
	}
	return d, nil
}

// set stores the JSON value v (a token of json.Decoder) of field bit.
func (d *tlsDoc) set(bit int, v any) error {
	s, isString := v.(string)
	var ok bool
	switch bit {
	case fVer:
		d.ver, ok = s, isString
	case fIdentifier:
		d.identifier, ok = s, isString && validIdentifier(s)
	case fSDKAppID:
		var n uint64
		n, ok = tlsUint(v)
		d.sdkAppID, ok = uint32(n), ok && n != 0
	case fTime:
		var n uint64
		n, ok = tlsUint(v)
		d.time = int64(n)
	case fExpire:
		var n uint64
		n, ok = tlsUint(v)
		d.expire = int64(n)
	case fUserBuf:
		d.userbuf, d.hasUserbuf = s, true
		if isString && s != "" {
			raw, err := base64.StdEncoding.Strict().DecodeString(s)
			d.userbufRaw, ok = raw, err == nil && !strings.ContainsAny(s, "\r\n")
		}
	case fSig:
		if isString {
			raw, err := base64.StdEncoding.Strict().DecodeString(s)
			d.sig, ok = raw, err == nil && !strings.ContainsAny(s, "\r\n")
		}
	}
	if !ok {
		return malformed("JSON field of the wrong type or form")
	}
	return nil
}

// tlsUint reads a JSON number that is a canonical decimal integer from 0
// to MaxUint32. A string is refused, even one holding such a number: none
// of TRTC's libraries writes one.
func tlsUint(v any) (uint64, bool) {
	x, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	s := string(x)
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}

// verifyTLS checks a TLSSigAPIv2 token: its form, its app, its signature
// against every key of the ring, then its times, userbuf, user and room.
func (ck *check) verifyTLS(token string) (Claims, error) {
	d, err := decodeTLS(token)
	if err != nil {
		return Claims{}, err
	}
	switch {
	case d.ver != tlsVersion:
		return Claims{}, fmt.Errorf("%w: TLS.ver", ErrSignature)
	case len(d.sig) != sha256.Size:
		return Claims{}, ErrSignature
	case d.sdkAppID != ck.want.SDKAppID:
		return Claims{}, fmt.Errorf("%w: token of another app", ErrUnknownApp)
	}
	var (
		ubApp uint32
		pm    PrivateMap
	)
	if d.hasUserbuf {
		var account string
		if account, ubApp, pm, err = DecodeUserBuf(d.userbufRaw); err != nil {
			return Claims{}, err
		}
		if account != d.identifier {
			return Claims{}, malformed("userbuf names another user")
		}
	}
	ring, err := ck.lookup()
	if err != nil {
		return Claims{}, err
	}
	iat := time.Unix(d.time, 0)
	exp := iat.Add(time.Duration(d.expire) * time.Second)
	key, err := ck.matchTLS(ring, &d, iat)
	if err != nil {
		return Claims{}, err
	}
	if err := ck.times(key, iat, exp, nil); err != nil {
		return Claims{}, err
	}
	c := Claims{
		SDKAppID:   d.sdkAppID,
		UserID:     d.identifier,
		IssuedAt:   iat,
		ExpiresAt:  exp,
		Privileges: PrivAll,
		KeyID:      key.ID,
		Format:     FormatTLS,
	}
	if d.hasUserbuf {
		switch {
		case ubApp != ck.want.SDKAppID:
			return Claims{}, fmt.Errorf("%w: userbuf of another app", ErrUnknownApp)
		case ck.now.After(pm.ExpiresAt.Add(ck.leeway)):
			return Claims{}, fmt.Errorf("%w: userbuf expired", ErrExpired)
		}
		c.RoomID, c.StrRoomID = pm.RoomID, pm.StrRoomID
		c.Privileges, c.HasPrivateMap = pm.Privileges, true
		if pm.ExpiresAt.Before(c.ExpiresAt) {
			c.ExpiresAt = pm.ExpiresAt
		}
	}
	if err := ck.bind(&c); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// matchTLS finds the key of ring whose MAC of d is d.sig. It computes the
// MAC with every key of the ring and compares each in constant time, so the
// time taken does not tell which key matched. Only a key that is not
// revoked and whose signing window holds iat is accepted: a match with a
// revoked key is ErrUnknownKey, one outside its window ErrExpired; no match
// is ErrUnknownKey if no key could have signed at iat (unknown or destroyed),
// else ErrSignature.
func (ck *check) matchTLS(ring *Ring, d *tlsDoc, iat time.Time) (*Key, error) {
	content := d.content(make([]byte, 0, 160))
	var (
		usable           = -1
		revoked, outside bool
		someKeyCouldSign bool
	)
	for i := range ring.Keys {
		k := &ring.Keys[i]
		if len(k.Secret) < MinSecretLen {
			continue
		}
		inWindow := k.signedAt(iat, ck.leeway)
		if inWindow && !k.Revoked {
			someKeyCouldSign = true
		}
		m := hmac.New(sha256.New, k.Secret)
		m.Write(content)
		if subtle.ConstantTimeCompare(m.Sum(ck.macSpace[:0]), d.sig) == 1 {
			switch {
			case k.Revoked:
				revoked = true
			case !inWindow:
				outside = true
			case usable < 0:
				usable = i
			}
		}
	}
	switch {
	case usable >= 0:
		return &ring.Keys[usable], nil
	case revoked:
		return nil, fmt.Errorf("%w: revoked", ErrUnknownKey)
	case outside:
		return nil, fmt.Errorf("%w: issued outside its key's signing window", ErrExpired)
	case !someKeyCouldSign:
		return nil, fmt.Errorf("%w: no key of the ring signs at the token's time", ErrUnknownKey)
	}
	return nil, ErrSignature
}
