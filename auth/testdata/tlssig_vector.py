#!/usr/bin/env python3
"""Independent TLSSigAPIv2 test vectors for Lethe's auth package.

Builds UserSigs and privateMapKeys from the documented algorithm of TRTC's
public tls-sig-api-v2 libraries, with fixed inputs and only the Python
standard library, so that the Go implementation is checked against
something it did not produce:

  json  {"TLS.ver": "2.0", "TLS.identifier", "TLS.sdkappid", "TLS.expire",
         "TLS.time", ["TLS.userbuf"], "TLS.sig"}
  sig   base64(HMAC-SHA256(secret as ASCII,
           "TLS.identifier:%s\\nTLS.sdkappid:%d\\nTLS.time:%d\\nTLS.expire:%d\\n"
           ["TLS.userbuf:%s\\n"]))
  token base64(zlib(json)) with + -> *, / -> -, = -> _
  userbuf  >B cVer, >H len + account, >I sdkappid, >I room (0 for a string
           room), >I absolute expiry, >I privileges, >I account type,
           [cVer 1: >H len + string room]

Usage:
  python3 tlssig_vector.py > tlssig_vectors.json     # write the vectors
  python3 tlssig_vector.py --check < lines           # verify tokens
The --check mode reads lines "secret<TAB>token", decodes and verifies each
token with the algorithm above and prints one JSON object per line with the
decoded fields (and the decoded userbuf), or {"error": ...}.
"""

import base64
import hashlib
import hmac
import json
import struct
import sys
import zlib

SECRET = hashlib.sha256(b"lethe tlssig test vector").hexdigest()  # 64 ASCII hex chars
SDKAPPID = 1400000001
IDENTIFIER = "alice"
TIME = 1750000000
EXPIRE = 3600


def userbuf(account, sdkappid, room, str_room, exp_time, privileges, account_type):
    ver = 1 if str_room else 0
    acc = account.encode("utf-8")
    b = struct.pack(">BH", ver, len(acc)) + acc
    b += struct.pack(">IIIII", sdkappid, room, exp_time, privileges, account_type)
    if str_room:
        s = str_room.encode("utf-8")
        b += struct.pack(">H", len(s)) + s
    return b


def parse_userbuf(b):
    ver, n = struct.unpack_from(">BH", b, 0)
    account = b[3:3 + n].decode("utf-8")
    off = 3 + n
    sdkappid, room, exp_time, privileges, account_type = struct.unpack_from(">IIIII", b, off)
    off += 20
    str_room = ""
    if ver == 1:
        (m,) = struct.unpack_from(">H", b, off)
        str_room = b[off + 2:off + 2 + m].decode("utf-8")
        off += 2 + m
    if ver not in (0, 1) or off != len(b):
        raise ValueError("bad userbuf")
    return {"ver": ver, "account": account, "sdkappid": sdkappid, "room": room,
            "str_room": str_room, "exp_time": exp_time, "privileges": privileges,
            "account_type": account_type}


def mac(secret, identifier, sdkappid, t, expire, ub64):
    content = "TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n" % (
        identifier, sdkappid, t, expire)
    if ub64 is not None:
        content += "TLS.userbuf:%s\n" % ub64
    return base64.b64encode(hmac.new(secret.encode("ascii"), content.encode("utf-8"),
                                     hashlib.sha256).digest()).decode("ascii")


def sign(secret, identifier, sdkappid, t, expire, ub=None, level=-1, php_slashes=False):
    doc = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": sdkappid,
           "TLS.expire": expire, "TLS.time": t}
    ub64 = None
    if ub is not None:
        ub64 = base64.b64encode(ub).decode("ascii")
        doc["TLS.userbuf"] = ub64
    doc["TLS.sig"] = mac(secret, identifier, sdkappid, t, expire, ub64)
    text = json.dumps(doc)
    if php_slashes:  # PHP's json_encode writes "/" as "\/"
        text = text.replace("/", "\\/")
    z = zlib.compress(text.encode("utf-8"), level)
    return (base64.b64encode(z).decode("ascii")
            .replace("+", "*").replace("/", "-").replace("=", "_")), doc


def decode(secret, token):
    std = token.replace("*", "+").replace("-", "/").replace("_", "=")
    doc = json.loads(zlib.decompress(base64.b64decode(std, validate=True)).decode("utf-8"))
    ub64 = doc.get("TLS.userbuf")
    want = mac(secret, doc["TLS.identifier"], int(doc["TLS.sdkappid"]), int(doc["TLS.time"]),
               int(doc["TLS.expire"]), ub64)
    if doc.get("TLS.ver") != "2.0" or not hmac.compare_digest(want, doc["TLS.sig"]):
        raise ValueError("signature does not verify")
    out = dict(doc)
    if ub64 is not None:
        out["userbuf"] = parse_userbuf(base64.b64decode(ub64, validate=True))
    return out


def vectors():
    out = []

    def add(name, level=-1, php=False, ub=None, ubfields=None):
        token, doc = sign(SECRET, IDENTIFIER, SDKAPPID, TIME, EXPIRE, ub, level, php)
        out.append({"name": name, "secret": SECRET, "sdkappid": SDKAPPID,
                    "identifier": IDENTIFIER, "time": TIME, "expire": EXPIRE,
                    "level": level, "userbuf": ubfields, "json": doc, "token": token})

    add("usersig")
    add("usersig zlib level 0", level=0)
    add("usersig zlib level 1", level=1)
    add("usersig zlib level 9 php slashes", level=9, php=True)
    room = {"room": 123, "str_room": "", "exp_time": TIME + EXPIRE, "privileges": 255, "account_type": 0}
    add("privmap roomId 123", ub=userbuf(IDENTIFIER, SDKAPPID, **room), ubfields=room)
    sroom = {"room": 0, "str_room": "123", "exp_time": TIME + 600, "privileges": 42, "account_type": 0}
    add("privmap strRoomId 123", ub=userbuf(IDENTIFIER, SDKAPPID, **sroom), ubfields=sroom)
    return out


def main():
    if sys.argv[1:] == ["--check"]:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            secret, token = line.split("\t", 1)
            try:
                print(json.dumps(decode(secret, token), sort_keys=True))
            except Exception as e:  # report, keep going
                print(json.dumps({"error": str(e)}))
        return
    vs = vectors()
    for v in vs:  # every vector must decode with the decoder above
        decode(v["secret"], v["token"])
    print(json.dumps({"generator": "auth/testdata/tlssig_vector.py", "vectors": vs}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
