package auth

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// PrivateMap is the content of a privateMapKey's TLS.userbuf besides the
// account and SDKAppID: the room (exactly one of RoomID and StrRoomID), the
// privilege bits, the absolute expiry and TRTC's account type (0 in
// practice, carried through).
type PrivateMap struct {
	RoomID      uint32
	StrRoomID   string
	Privileges  Privilege
	ExpiresAt   time.Time // dwExpTime, unix seconds; SignTLS: zero means the token's exp
	AccountType uint32
}

// Layout of TLS.userbuf, all integers big-endian, as the official
// libraries build it (learnt from tencentyun/tls-sig-api-v2-golang
// tencentyun/TLSSigAPI.go genUserBuf, which writes both versions, and
// tencentyun/tls-sig-api-v2-python TLSSigAPIv2.py _gen_userbuf, version 0):
//
//	cVer           1 byte   0: numeric room; 1: string room
//	wAccountLen    2 bytes
//	buffAccount    wAccountLen bytes (the user id)
//	dwSdkAppid     4 bytes
//	dwAuthID       4 bytes  the numeric room; 0 for a string room
//	dwExpTime      4 bytes  absolute expiry, unix seconds
//	dwPrivilegeMap 4 bytes
//	dwAccountType  4 bytes
//	(cVer 1 only:)
//	wRoomStrLen    2 bytes
//	roomStr        wRoomStrLen bytes
const (
	userBufNumeric = 0
	userBufString  = 1
	userBufFixed   = 5 * 4 // dwSdkappid .. dwAccountType
)

// EncodeUserBuf lays out a TLS.userbuf for account in app sdkAppID. It
// refuses (ErrInvalidClaims) an empty or over-long account or string room,
// both or neither room set, privileges over 255 and an expiry outside
// 1970..2106 (a 32-bit unsigned unix time).
func EncodeUserBuf(account string, sdkAppID uint32, pm PrivateMap) ([]byte, error) {
	exp := pm.ExpiresAt.Unix()
	switch {
	case account == "" || len(account) > math.MaxUint16:
		return nil, errInvalidClaims("userbuf account: 1..65535 bytes")
	case (pm.RoomID != 0) == (pm.StrRoomID != ""):
		return nil, errInvalidClaims("userbuf needs exactly one of roomId and strRoomId")
	case len(pm.StrRoomID) > math.MaxUint16:
		return nil, errInvalidClaims("userbuf strRoomId over 65535 bytes")
	case pm.Privileges&^PrivAll != 0:
		return nil, errInvalidClaims("privileges over 255")
	case pm.ExpiresAt.IsZero() || exp <= 0 || exp > math.MaxUint32:
		return nil, errInvalidClaims("userbuf expiry out of range")
	}
	n := 1 + 2 + len(account) + userBufFixed
	if pm.StrRoomID != "" {
		n += 2 + len(pm.StrRoomID)
	}
	b := make([]byte, 0, n)
	if pm.StrRoomID != "" {
		b = append(b, userBufString)
	} else {
		b = append(b, userBufNumeric)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(account)))
	b = append(b, account...)
	b = binary.BigEndian.AppendUint32(b, sdkAppID)
	b = binary.BigEndian.AppendUint32(b, pm.RoomID)
	b = binary.BigEndian.AppendUint32(b, uint32(exp))
	b = binary.BigEndian.AppendUint32(b, uint32(pm.Privileges))
	b = binary.BigEndian.AppendUint32(b, pm.AccountType)
	if pm.StrRoomID != "" {
		b = binary.BigEndian.AppendUint16(b, uint16(len(pm.StrRoomID)))
		b = append(b, pm.StrRoomID...)
	}
	return b, nil
}

// DecodeUserBuf parses a TLS.userbuf. It is strict: a version other than 0
// or 1, a length that does not add up, trailing bytes, an empty account, a
// numeric room 0 (version 0), an empty string room or a nonzero dwAuthID
// (version 1), or privileges over 255 are malformed (ErrMalformed). What it
// returns re-encodes to exactly b.
func DecodeUserBuf(b []byte) (account string, sdkAppID uint32, pm PrivateMap, err error) {
	bad := func(why string) (string, uint32, PrivateMap, error) {
		return "", 0, PrivateMap{}, fmt.Errorf("%w: userbuf: %s", ErrMalformed, why)
	}
	if len(b) < 3 {
		return bad("short")
	}
	ver := b[0]
	if ver != userBufNumeric && ver != userBufString {
		return bad("unknown version")
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	rest := b[3:]
	if n == 0 || len(rest) < n+userBufFixed {
		return bad("short")
	}
	account, rest = string(rest[:n]), rest[n:]
	sdkAppID = binary.BigEndian.Uint32(rest[0:])
	pm.RoomID = binary.BigEndian.Uint32(rest[4:])
	pm.ExpiresAt = time.Unix(int64(binary.BigEndian.Uint32(rest[8:])), 0)
	pm.Privileges = Privilege(binary.BigEndian.Uint32(rest[12:]))
	pm.AccountType = binary.BigEndian.Uint32(rest[16:])
	rest = rest[userBufFixed:]
	if ver == userBufString {
		if len(rest) < 2 {
			return bad("short")
		}
		m := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if m == 0 || len(rest) < m {
			return bad("bad string room length")
		}
		pm.StrRoomID, rest = string(rest[:m]), rest[m:]
		if pm.RoomID != 0 {
			return bad("numeric room in a string-room userbuf")
		}
	} else if pm.RoomID == 0 {
		return bad("room 0")
	}
	switch {
	case len(rest) != 0:
		return bad("trailing bytes")
	case pm.Privileges&^PrivAll != 0:
		return bad("privileges over 255")
	case pm.ExpiresAt.Unix() == 0:
		return bad("no expiry")
	}
	return account, sdkAppID, pm, nil
}
