package datamsg

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   byte
		topic   string
		to      []string
		payload []byte
	}{
		{"room, bytes", 0, "", nil, []byte{0, 1, 2, 255}},
		{"room, empty", 0, "", nil, nil},
		{"text with topic", FlagText, "chat", nil, []byte("héllo")},
		{"two destinations", 0, "t", []string{"PA_a", "PA_b"}, []byte("x")},
		{"limits", FlagText, string(bytes.Repeat([]byte("t"), MaxTopic)), sixteen(), bytes.Repeat([]byte("p"), 16384)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := AppendSend(nil, tc.flags, tc.topic, tc.to, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(b)-len(tc.payload) > MaxHeader {
				t.Fatalf("header of %d bytes, over MaxHeader", len(b)-len(tc.payload))
			}
			var m Message
			if err := Parse(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.Flags != tc.flags || string(m.Topic) != tc.topic || len(m.Sender) != 0 || m.NTo != len(tc.to) || !bytes.Equal(m.Payload, tc.payload) {
				t.Fatalf("got %+v", m)
			}
			for i, id := range tc.to {
				if string(m.To(i)) != id || m.ToIndex(id) != i {
					t.Fatalf("destination %d: %q, index %d", i, m.To(i), m.ToIndex(id))
				}
			}
			if m.ToIndex("PA_none") != -1 {
				t.Fatal("an id not addressed found")
			}
			r := AppendRelay(nil, m.Flags|FlagPrivate, "PA_sender", m.Topic, m.Payload)
			var out Message
			if err := Parse(r, &out); err != nil {
				t.Fatal(err)
			}
			if string(out.Sender) != "PA_sender" || !out.Private() || out.Text() != (tc.flags&FlagText != 0) ||
				string(out.Topic) != tc.topic || out.NTo != 0 || !bytes.Equal(out.Payload, tc.payload) {
				t.Fatalf("relayed: got %+v", out)
			}
		})
	}
}

func sixteen() []string {
	var ids []string
	for i := 0; i < MaxTo; i++ {
		ids = append(ids, string(bytes.Repeat([]byte{'a' + byte(i)}, MaxID)))
	}
	return ids
}

func TestParseErrors(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 65)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"four bytes", []byte{1, 0, 0, 0}, ErrShort},
		{"version", []byte{2, 0, 0, 0, 0}, ErrVersion},
		{"flags", []byte{1, 4, 0, 0, 0}, ErrFlags},
		{"sender too long", append([]byte{1, 0, 65}, long...), ErrID},
		{"sender cut", []byte{1, 0, 9, 'a', 0}, ErrShort},
		{"topic too long", append([]byte{1, 0, 0, 65}, long...), ErrTopic},
		{"topic not UTF-8", []byte{1, 0, 0, 1, 0xff, 0}, ErrTopic},
		{"topic cut", []byte{1, 0, 0, 3, 'a', 'b'}, ErrShort},
		{"too many destinations", []byte{1, 0, 0, 0, 17}, ErrTo},
		{"destination missing", []byte{1, 0, 0, 0, 1}, ErrShort},
		{"empty destination", []byte{1, 0, 0, 0, 1, 0}, ErrID},
		{"destination cut", []byte{1, 0, 0, 0, 1, 4, 'P', 'A'}, ErrShort},
		{"text not UTF-8", []byte{1, FlagText, 0, 0, 0, 0xc3}, ErrText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := Parse(tc.b, &m)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAppendSendErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags byte
		topic string
		to    []string
		p     []byte
		want  error
	}{
		{"private flag", FlagPrivate, "", nil, nil, ErrFlags},
		{"topic", 0, string(bytes.Repeat([]byte("t"), 65)), nil, nil, ErrTopic},
		{"too many", 0, "", append(sixteen(), "x"), nil, ErrTo},
		{"empty id", 0, "", []string{""}, nil, ErrID},
		{"text", FlagText, "", nil, []byte{0xff}, ErrText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AppendSend(nil, tc.flags, tc.topic, tc.to, tc.p); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte{1, FlagText, 0, 4, 'c', 'h', 'a', 't', 1, 4, 'P', 'A', '_', 'x', 'h', 'i'})
	f.Add([]byte{1, 0, 0, 0, 17})
	f.Add([]byte{1, 0, 0, 0, 1, 0})
	f.Add([]byte{1, 0, 255})
	f.Add([]byte{1, FlagText, 0, 0, 0, 0xc3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if Parse(b, &m) != nil {
			return
		}
		// What parses relays, and the relayed frame parses the same.
		if len(m.Sender) > MaxID || len(m.Topic) > MaxTopic || m.NTo > MaxTo {
			t.Fatalf("limits: %+v", m)
		}
		for i := 0; i < m.NTo; i++ {
			if id := m.To(i); len(id) == 0 || m.ToIndex(string(id)) > i {
				t.Fatalf("destination %d", i)
			}
		}
		r := AppendRelay(nil, m.Flags, "PA_x", m.Topic, m.Payload)
		var out Message
		if err := Parse(r, &out); err != nil {
			t.Fatalf("relayed frame does not parse: %v", err)
		}
		if !bytes.Equal(out.Payload, m.Payload) || !bytes.Equal(out.Topic, m.Topic) || out.Flags != m.Flags {
			t.Fatal("relay changed the message")
		}
	})
}

func BenchmarkParseRelay(b *testing.B) {
	frame, _ := AppendSend(nil, FlagText, "chat", []string{"PA_aaaaaaaaaaaaaaaa", "PA_bbbbbbbbbbbbbbbb"}, bytes.Repeat([]byte("x"), 1024))
	out := make([]byte, 0, len(frame)+MaxHeader)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		var m Message
		if err := Parse(frame, &m); err != nil {
			b.Fatal(err)
		}
		if m.ToIndex("PA_bbbbbbbbbbbbbbbb") != 1 {
			b.Fatal("destination")
		}
		out = AppendRelay(out[:0], m.Flags|FlagPrivate, "PA_cccccccccccccccc", m.Topic, m.Payload)
	}
}
