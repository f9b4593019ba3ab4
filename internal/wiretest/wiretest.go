// Package wiretest builds signaling messages for tests of the packages on
// either side of the wire (signaling, control, worker). It imports nothing
// of the project, so any test may use it.
package wiretest

import "encoding/json"

// Msg builds a client message from a type, an id and a data value that is
// either raw JSON (string) or anything json.Marshal accepts.
func Msg(typ string, id uint64, data any) string {
	env := map[string]any{"type": typ}
	if id != 0 {
		env["id"] = id
	}
	switch d := data.(type) {
	case nil:
	case string:
		env["data"] = json.RawMessage(d)
	default:
		env["data"] = d
	}
	b, err := json.Marshal(env)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Secret stands for a token or SDP line that must never be echoed or
// logged: tests put it into what they send and look for it in what comes out.
const Secret = "SECRET-7f3a"

// JoinData is the data of a valid join of user alice to room 123 of app
// 1400000001, changed by mod when it is not nil.
func JoinData(mod func(map[string]any)) map[string]any {
	d := map[string]any{"sdkAppId": 1400000001, "userId": "alice", "userSig": "tok-" + Secret, "roomId": 123}
	if mod != nil {
		mod(d)
	}
	return d
}
