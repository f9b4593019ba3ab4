package auth

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tlsVector is one entry of testdata/tlssig_vectors.json, which
// testdata/tlssig_vector.py wrote from the documented algorithm with only
// Python's standard library.
type tlsVector struct {
	Name       string         `json:"name"`
	Secret     string         `json:"secret"`
	SDKAppID   uint32         `json:"sdkappid"`
	Identifier string         `json:"identifier"`
	Time       int64          `json:"time"`
	Expire     int64          `json:"expire"`
	Level      int            `json:"level"`
	JSON       map[string]any `json:"json"`
	Token      string         `json:"token"`
	UserBuf    *struct {
		Room        uint32 `json:"room"`
		StrRoom     string `json:"str_room"`
		ExpTime     int64  `json:"exp_time"`
		Privileges  uint32 `json:"privileges"`
		AccountType uint32 `json:"account_type"`
	} `json:"userbuf"`
}

func loadVectors(t *testing.T) []tlsVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tlssig_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []tlsVector }
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 6 {
		t.Fatalf("%d vectors", len(file.Vectors))
	}
	return file.Vectors
}

// inflateJSON undoes a TLSSigAPIv2 token's encoding with the standard
// library alone and returns its JSON object, numbers kept as json.Number.
func inflateJSON(t *testing.T, tok string) map[string]any {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(tok))
	if err != nil {
		t.Fatal(err)
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (vec *tlsVector) inputs() (Key, Claims, *PrivateMap, Want) {
	iat := time.Unix(vec.Time, 0)
	key := Key{ID: "vector", Secret: []byte(vec.Secret), NotBefore: iat.Add(-time.Hour), NotAfter: iat.Add(time.Hour)}
	c := Claims{SDKAppID: vec.SDKAppID, UserID: vec.Identifier, IssuedAt: iat, ExpiresAt: iat.Add(time.Duration(vec.Expire) * time.Second)}
	want := Want{SDKAppID: vec.SDKAppID, UserID: vec.Identifier}
	var pm *PrivateMap
	if u := vec.UserBuf; u != nil {
		pm = &PrivateMap{RoomID: u.Room, StrRoomID: u.StrRoom, Privileges: Privilege(u.Privileges), ExpiresAt: time.Unix(u.ExpTime, 0), AccountType: u.AccountType}
		want.RoomID, want.StrRoomID = u.Room, u.StrRoom
	}
	return key, c, pm, want
}

// TestTLSInteropVectors verifies the independently made vectors with a
// fixed clock, and checks that SignTLS, given the same inputs, writes the
// same JSON fields and the very same signature and userbuf.
func TestTLSInteropVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range loadVectors(t) {
		t.Run(vec.Name, func(t *testing.T) {
			t.Parallel()
			key, c, pm, want := vec.inputs()
			v := &Verifier{
				Keys: KeyLookupFunc(func(context.Context, uint32) (Ring, error) { return Ring{Keys: []Key{key}}, nil }),
				Now:  func() time.Time { return c.IssuedAt.Add(time.Minute) },
			}
			got, err := v.Verify(context.Background(), vec.Token, want)
			if err != nil {
				t.Fatalf("vector does not verify: %v", err)
			}
			wantExp := c.ExpiresAt
			if pm != nil {
				if got.Privileges != pm.Privileges || !got.HasPrivateMap || got.RoomID != pm.RoomID || got.StrRoomID != pm.StrRoomID {
					t.Fatalf("claims %+v, want %+v", got, pm)
				}
				if _, err := v.VerifyPrivateMapKey(context.Background(), vec.Token, want); err != nil {
					t.Fatalf("VerifyPrivateMapKey: %v", err)
				}
				if pm.ExpiresAt.Before(wantExp) {
					wantExp = pm.ExpiresAt
				}
			} else if got.Privileges != PrivAll || got.HasPrivateMap {
				t.Fatalf("claims %+v", got)
			}
			if !got.IssuedAt.Equal(c.IssuedAt) || !got.ExpiresAt.Equal(wantExp) || got.Format != FormatTLS {
				t.Fatalf("claims %+v", got)
			}
			// A minute past its life, it is refused.
			v.Now = func() time.Time { return wantExp.Add(DefaultLeeway + time.Minute) }
			if _, err := v.Verify(context.Background(), vec.Token, want); err == nil {
				t.Fatal("expired vector verifies")
			}

			mine, err := SignTLS(key, c, pm)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, wantJSON := inflateJSON(t, mine), inflateJSON(t, vec.Token)
			if !reflect.DeepEqual(gotJSON, wantJSON) {
				t.Fatalf("SignTLS wrote\n%v\nthe vector has\n%v", gotJSON, wantJSON)
			}
		})
	}
}

// TestTLSInteropPython hands tokens made by SignTLS to the Python script's
// independent decoder, when python3 is at hand.
func TestTLSInteropPython(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	f := newFixture()
	c := Claims{SDKAppID: appA, UserID: "user_7", IssuedAt: testNow, ExpiresAt: testNow.Add(2 * time.Hour)}
	pms := []*PrivateMap{nil, {RoomID: 4294967294, Privileges: 42}, {StrRoomID: "lobby-1", Privileges: PrivAll, AccountType: 3}}
	var in bytes.Buffer
	for _, pm := range pms {
		tok, err := SignTLS(f.keyA, c, pm)
		if err != nil {
			t.Fatal(err)
		}
		in.WriteString(string(f.keyA.Secret) + "\t" + tok + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "tlssig_vector.py"), "--check")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		var got struct {
			Error      string `json:"error"`
			Identifier string `json:"TLS.identifier"`
			SDKAppID   uint32 `json:"TLS.sdkappid"`
			Time       int64  `json:"TLS.time"`
			Expire     int64  `json:"TLS.expire"`
			UserBuf    *struct {
				Account     string `json:"account"`
				SDKAppID    uint32 `json:"sdkappid"`
				Room        uint32 `json:"room"`
				StrRoom     string `json:"str_room"`
				ExpTime     int64  `json:"exp_time"`
				Privileges  uint32 `json:"privileges"`
				AccountType uint32 `json:"account_type"`
			} `json:"userbuf"`
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Error != "" {
			t.Fatalf("token %d: python: %s", i, got.Error)
		}
		if got.Identifier != c.UserID || got.SDKAppID != appA || got.Time != testNow.Unix() || got.Expire != 7200 {
			t.Fatalf("token %d: python decoded %+v", i, got)
		}
		pm := pms[i]
		if (pm == nil) != (got.UserBuf == nil) {
			t.Fatalf("token %d: userbuf presence", i)
		}
		if pm != nil {
			u := got.UserBuf
			if u.Account != c.UserID || u.SDKAppID != appA || u.Room != pm.RoomID || u.StrRoom != pm.StrRoomID ||
				u.ExpTime != c.ExpiresAt.Unix() || u.Privileges != uint32(pm.Privileges) || u.AccountType != pm.AccountType {
				t.Fatalf("token %d: python decoded userbuf %+v for %+v", i, u, pm)
			}
		}
	}
	if i != len(pms) {
		t.Fatalf("python answered %d lines for %d tokens", i, len(pms))
	}
}

// TestTLSLibraryShapes verifies a UserSig and a privateMapKey written the
// way each of TRTC's tls-sig-api-v2 libraries writes them: its field
// order, spacing, escaping, compression level and the JSON types of its
// fields (all of them write TLS.sdkappid, TLS.time and TLS.expire as JSON
// numbers, which is why Lethe accepts nothing else there). Learnt from
// tencentyun/tls-sig-api-v2-{python,golang,java,cs,cpp,node,php}.
func TestTLSLibraryShapes(t *testing.T) {
	t.Parallel()
	f := newFixture()
	iat := testNow.Add(-time.Minute).Unix()
	const expire = 3600
	userbuf := base64.StdEncoding.EncodeToString(ub(t, "alice", appA, PrivateMap{RoomID: 123, Privileges: 42, ExpiresAt: time.Unix(iat+expire, 0)}))
	mac := func(ub string) string {
		content := fmt.Sprintf("TLS.identifier:alice\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", appA, iat, expire)
		if ub != "" {
			content += "TLS.userbuf:" + ub + "\n"
		}
		m := hmac.New(sha256.New, f.keyA.Secret)
		m.Write([]byte(content))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	// Each library's JSON, with %[1]d sdkappid, %[2]d time, %[3]d expire,
	// %[4]s sig and, in the privateMapKey form, %[5]s userbuf.
	for _, lib := range []struct {
		name       string
		level      int
		sig, pmk   string
		phpSlashes bool
	}{
		{"python json.dumps", zlib.DefaultCompression,
			`{"TLS.ver": "2.0", "TLS.identifier": "alice", "TLS.sdkappid": %[1]d, "TLS.expire": %[3]d, "TLS.time": %[2]d, "TLS.sig": "%[4]s"}`,
			`{"TLS.ver": "2.0", "TLS.identifier": "alice", "TLS.sdkappid": %[1]d, "TLS.expire": %[3]d, "TLS.time": %[2]d, "TLS.userbuf": "%[5]s", "TLS.sig": "%[4]s"}`, false},
		{"golang json.Encoder, no compression", zlib.NoCompression,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.expire":%[3]d,"TLS.time":%[2]d,"TLS.sig":"%[4]s"}` + "\n",
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.expire":%[3]d,"TLS.time":%[2]d,"TLS.userbuf":"%[5]s","TLS.sig":"%[4]s"}` + "\n", false},
		{"java org.json (hash order)", zlib.DefaultCompression,
			`{"TLS.sig":"%[4]s","TLS.ver":"2.0","TLS.identifier":"alice","TLS.expire":%[3]d,"TLS.sdkappid":%[1]d,"TLS.time":%[2]d}`,
			`{"TLS.sig":"%[4]s","TLS.userbuf":"%[5]s","TLS.ver":"2.0","TLS.identifier":"alice","TLS.expire":%[3]d,"TLS.sdkappid":%[1]d,"TLS.time":%[2]d}`, false},
		{"c# String.Format", zlib.DefaultCompression,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.expire":%[3]d,"TLS.time":%[2]d,"TLS.sig":"%[4]s"}`,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.expire":%[3]d,"TLS.time":%[2]d,"TLS.sig":"%[4]s","TLS.userbuf":"%[5]s"}`, false},
		{"c++ rapidjson, best speed", zlib.BestSpeed,
			`{"TLS.ver":"2.0","TLS.sdkappid":%[1]d,"TLS.identifier":"alice","TLS.time":%[2]d,"TLS.expire":%[3]d,"TLS.sig":"%[4]s"}`,
			`{"TLS.ver":"2.0","TLS.sdkappid":%[1]d,"TLS.identifier":"alice","TLS.time":%[2]d,"TLS.expire":%[3]d,"TLS.userbuf":"%[5]s","TLS.sig":"%[4]s"}`, false},
		{"node JSON.stringify", zlib.DefaultCompression,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.time":%[2]d,"TLS.expire":%[3]d,"TLS.sig":"%[4]s"}`,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.time":%[2]d,"TLS.expire":%[3]d,"TLS.userbuf":"%[5]s","TLS.sig":"%[4]s"}`, false},
		{"php json_encode", zlib.DefaultCompression,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.expire":%[3]d,"TLS.time":%[2]d,"TLS.sig":"%[4]s"}`,
			`{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":%[1]d,"TLS.expire":%[3]d,"TLS.time":%[2]d,"TLS.userbuf":"%[5]s","TLS.sig":"%[4]s"}`, true},
	} {
		t.Run(lib.name, func(t *testing.T) {
			t.Parallel()
			v, _ := f.verifier()
			for _, form := range []struct {
				doc  string
				want Want
				pm   bool
			}{
				{fmt.Sprintf(lib.sig, appA, iat, expire, mac("")), alice(), false},
				{fmt.Sprintf(lib.pmk, appA, iat, expire, mac(userbuf), userbuf), aliceIn(123, ""), true},
			} {
				doc := form.doc
				if lib.phpSlashes {
					doc = strings.ReplaceAll(doc, "/", `\/`)
				}
				c, err := v.Verify(context.Background(), tlsToken(t, []byte(doc), lib.level, nil), form.want)
				if err != nil {
					t.Fatalf("%s: %v", doc, err)
				}
				if c.HasPrivateMap != form.pm || (form.pm && c.Privileges != 42) {
					t.Fatalf("%s: claims %+v", doc, c)
				}
			}
		})
	}
}
