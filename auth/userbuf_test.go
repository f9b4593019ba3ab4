package auth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// rawUserBuf lays out a userbuf field by field, bypassing EncodeUserBuf's
// checks, so that bad ones can be made.
func rawUserBuf(ver byte, account string, app, room, exp, priv, typ uint32, strRoom *string) []byte {
	b := []byte{ver}
	b = binary.BigEndian.AppendUint16(b, uint16(len(account)))
	b = append(b, account...)
	for _, v := range []uint32{app, room, exp, priv, typ} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	if strRoom != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*strRoom)))
		b = append(b, *strRoom...)
	}
	return b
}

func strp(s string) *string { return &s }

func TestUserBufRoundTrip(t *testing.T) {
	t.Parallel()
	exp := time.Unix(1_750_003_600, 0)
	for _, tc := range []struct {
		name    string
		account string
		pm      PrivateMap
		raw     []byte
	}{
		{"numeric room", "alice", PrivateMap{RoomID: 123, Privileges: PrivAll, ExpiresAt: exp},
			rawUserBuf(0, "alice", appA, 123, 1_750_003_600, 255, 0, nil)},
		{"string room", "alice", PrivateMap{StrRoomID: "123", Privileges: 42, ExpiresAt: exp, AccountType: 9},
			rawUserBuf(1, "alice", appA, 0, 1_750_003_600, 42, 9, strp("123"))},
		{"no privileges", "u", PrivateMap{RoomID: 4294967295, ExpiresAt: exp},
			rawUserBuf(0, "u", appA, 4294967295, 1_750_003_600, 0, 0, nil)},
		{"long string room", strings.Repeat("x", 300), PrivateMap{StrRoomID: strings.Repeat("r", 65535), Privileges: 1, ExpiresAt: exp},
			rawUserBuf(1, strings.Repeat("x", 300), appA, 0, 1_750_003_600, 1, 0, strp(strings.Repeat("r", 65535)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := EncodeUserBuf(tc.account, appA, tc.pm)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tc.raw) {
				t.Fatalf("EncodeUserBuf = %x, want %x", b, tc.raw)
			}
			account, app, pm, err := DecodeUserBuf(b)
			if err != nil {
				t.Fatal(err)
			}
			if account != tc.account || app != appA || pm.RoomID != tc.pm.RoomID || pm.StrRoomID != tc.pm.StrRoomID ||
				pm.Privileges != tc.pm.Privileges || !pm.ExpiresAt.Equal(tc.pm.ExpiresAt) || pm.AccountType != tc.pm.AccountType {
				t.Fatalf("decoded %q %d %+v, want %q %+v", account, app, pm, tc.account, tc.pm)
			}
		})
	}
}

func userBufRefusals() []struct {
	name string
	b    []byte
} {
	return []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", []byte{0, 0}},
		{"version 2", rawUserBuf(2, "alice", appA, 1, 1, 1, 0, nil)},
		{"version 1 without string room", rawUserBuf(1, "alice", appA, 0, 1, 1, 0, nil)},
		{"version 0 with string room", rawUserBuf(0, "alice", appA, 1, 1, 1, 0, strp("1"))},
		{"account empty", rawUserBuf(0, "", appA, 1, 1, 1, 0, nil)},
		{"account length beyond the buffer", append([]byte{0, 0xff, 0xff}, "alice"...)},
		{"truncated fixed part", rawUserBuf(0, "alice", appA, 1, 1, 1, 0, nil)[:20]},
		{"trailing byte", append(rawUserBuf(0, "alice", appA, 1, 1, 1, 0, nil), 0)},
		{"numeric room 0", rawUserBuf(0, "alice", appA, 0, 1, 1, 0, nil)},
		{"string room empty", rawUserBuf(1, "alice", appA, 0, 1, 1, 0, strp(""))},
		{"string room with numeric room", rawUserBuf(1, "alice", appA, 5, 1, 1, 0, strp("5"))},
		{"string room length beyond the buffer", func() []byte {
			b := rawUserBuf(1, "alice", appA, 0, 1, 1, 0, strp("abc"))
			binary.BigEndian.PutUint16(b[28:], 4)
			return b
		}()},
		{"string room length cut", rawUserBuf(1, "alice", appA, 0, 1, 1, 0, strp("abc"))[:29]},
		{"privileges 256", rawUserBuf(0, "alice", appA, 1, 1, 256, 0, nil)},
		{"no expiry", rawUserBuf(0, "alice", appA, 1, 0, 1, 0, nil)},
	}
}

func TestDecodeUserBufRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range userBufRefusals() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, _, err := DecodeUserBuf(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestEncodeUserBufRefuses(t *testing.T) {
	t.Parallel()
	exp := time.Unix(1_750_003_600, 0)
	for _, tc := range []struct {
		name    string
		account string
		pm      PrivateMap
	}{
		{"no account", "", PrivateMap{RoomID: 1, ExpiresAt: exp}},
		{"account too long", strings.Repeat("a", 65536), PrivateMap{RoomID: 1, ExpiresAt: exp}},
		{"no room", "a", PrivateMap{ExpiresAt: exp}},
		{"two rooms", "a", PrivateMap{RoomID: 1, StrRoomID: "1", ExpiresAt: exp}},
		{"string room too long", "a", PrivateMap{StrRoomID: strings.Repeat("r", 65536), ExpiresAt: exp}},
		{"privileges 256", "a", PrivateMap{RoomID: 1, Privileges: 256, ExpiresAt: exp}},
		{"no expiry", "a", PrivateMap{RoomID: 1}},
		{"expiry before 1970", "a", PrivateMap{RoomID: 1, ExpiresAt: time.Unix(-1, 0)}},
		{"expiry after 2106", "a", PrivateMap{RoomID: 1, ExpiresAt: time.Unix(1<<32, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := EncodeUserBuf(tc.account, appA, tc.pm); !errors.Is(err, ErrInvalidClaims) {
				t.Fatalf("err = %v, want ErrInvalidClaims", err)
			}
		})
	}
}

func FuzzDecodeUserBuf(f *testing.F) {
	f.Add(rawUserBuf(0, "alice", appA, 123, 1_750_003_600, 255, 0, nil))
	f.Add(rawUserBuf(1, "alice", appA, 0, 1_750_003_600, 42, 0, strp("123")))
	for _, tc := range userBufRefusals() {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		account, app, pm, err := DecodeUserBuf(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || countSentinels(err) != 1 {
				t.Fatalf("err %v", err)
			}
			return
		}
		again, err := EncodeUserBuf(account, app, pm)
		if err != nil {
			t.Fatalf("decoded userbuf does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
	})
}
