package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// golang-jwt reads a JWT's header into a map and its claims with
// encoding/json, which is lenient where a token must not be: a NumericDate
// (exp, iat, nbf) may be a float, "1.75e9" or a string holding a number;
// a null claim reads as an absent one; of two members with the same name
// the last one wins; and a claim's name matches in any case ("SUB", or
// "ſub" with a long s, is read as sub), so that two readers of one token
// can disagree on what it says. checkJWTJSON refuses all of that first, so
// that what golang-jwt then reads is what any strict reader would.

// jsonKind is the JSON type a member must have.
type jsonKind int

const (
	jsonAny    jsonKind = iota // any value (still without duplicate members)
	jsonInt                    // an integer, see jsonInteger
	jsonString                 // a string
	jsonBool                   // true or false
)

// jwtClaimKinds are the types of the claims Lethe reads. null is none of
// them: a claim is either present with its type or absent.
var jwtClaimKinds = map[string]jsonKind{
	"exp": jsonInt, "iat": jsonInt, "nbf": jsonInt,
	"sdkappid": jsonInt, "roomId": jsonInt, "privileges": jsonInt,
	"sub": jsonString, "strRoomId": jsonString, "role": jsonString, "consent": jsonString,
	"data": jsonBool,
}

// jwtReadClaims are the names encoding/json reads into jwtClaims (its
// fields' and the embedded jwt.RegisteredClaims' tags), matching them
// regardless of case. A member whose name equals one of them but for case
// is refused: only the exact name counts, once.
var jwtReadClaims = []string{
	"sdkappid", "roomId", "strRoomId", "privileges", "role", "consent", "data",
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
}

// maxJSONDepth bounds the nesting of a JWT's header and claims.
const maxJSONDepth = 16

// maxJSONInteger is the largest integer a time or number claim may hold:
// 2^53-1, the largest that every JSON reader holds exactly (RFC 7493, I-JSON).
const maxJSONInteger = 1<<53 - 1

var errJSON = errors.New("json")

// checkJWTJSON checks the header and the claims of a JWT: each segment
// canonical unpadded base64url of a UTF-8 JSON object, no object anywhere
// in them with two members of the same name (after unescaping), no crit
// header (Lethe understands no extension, RFC 7515 section 4.1.11), and
// the claims of jwtClaimKinds of their type. Every error matches
// ErrMalformed.
func checkJWTJSON(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return malformed("not three segments")
	}
	header, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return malformed("header base64")
	}
	claims, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return malformed("claims base64")
	}
	if err := checkJSONObject(header, nil, nil, "crit"); err != nil {
		return malformed("header JSON: " + err.Error())
	}
	if err := checkJSONObject(claims, jwtClaimKinds, jwtReadClaims, ""); err != nil {
		return malformed("claims JSON: " + err.Error())
	}
	return nil
}

// checkJSONObject checks that doc is one UTF-8 JSON object, with nothing
// after it but white space, whose members named in kinds have their kind,
// none of whose members has a name that differs only in case
// (strings.EqualFold, as encoding/json matches) from one of exact, which
// has no member named banned, and in which no object has two members of
// the same name. The errors say what is wrong in words of our own, never
// with the text of doc.
func checkJSONObject(doc []byte, kinds map[string]jsonKind, exact []string, banned string) error {
	if !utf8.Valid(doc) {
		return errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not an object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		key, err := member(dec, seen)
		if err != nil {
			return err
		}
		if banned != "" && key == banned {
			return errors.New("member " + banned + " refused")
		}
		for _, name := range exact {
			if key != name && strings.EqualFold(key, name) {
				return errors.New("a member's name differs from " + name + " only in case")
			}
		}
		switch kinds[key] {
		case jsonInt:
			v, err := dec.Token()
			if n, ok := v.(json.Number); err != nil || !ok || !jsonInteger(string(n)) {
				return errors.New("member " + key + " is not an integer from 0 to 2^53-1")
			}
		case jsonString:
			v, err := dec.Token()
			if _, ok := v.(string); err != nil || !ok {
				return errors.New("member " + key + " is not a string")
			}
		case jsonBool:
			v, err := dec.Token()
			if _, ok := v.(bool); err != nil || !ok {
				return errors.New("member " + key + " is not true or false")
			}
		default:
			if err := skipValue(dec, 1); err != nil {
				return err
			}
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the object")
	}
	return nil
}

// member reads the name of the next member of an object, and refuses it
// if seen already holds it.
func member(dec *json.Decoder, seen map[string]bool) (string, error) {
	t, err := dec.Token()
	if err != nil {
		return "", errJSON
	}
	key, _ := t.(string)
	if seen[key] {
		return "", errors.New("duplicate member")
	}
	seen[key] = true
	return key, nil
}

// skipValue reads one JSON value at nesting depth, checking the objects
// inside it for duplicate members.
func skipValue(dec *json.Decoder, depth int) error {
	t, err := dec.Token()
	if err != nil {
		return errJSON
	}
	d, ok := t.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth >= maxJSONDepth {
		return errors.New("nested too deep")
	}
	var seen map[string]bool
	if d == '{' {
		seen = make(map[string]bool)
	}
	for dec.More() {
		if seen != nil {
			if _, err := member(dec, seen); err != nil {
				return err
			}
		}
		if err := skipValue(dec, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return errJSON
	}
	return nil
}

// jsonInteger reports whether s, the text of a JSON number, is an integer
// from 0 to maxJSONInteger written plainly: digits only, no sign, fraction
// or exponent, no leading zero.
func jsonInteger(s string) bool {
	if s == "" || len(s) > 16 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	return n <= maxJSONInteger
}
