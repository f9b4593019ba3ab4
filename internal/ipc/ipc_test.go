package ipc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a), NewConn(b)
	defer ca.Close()
	defer cb.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = ca.Send(OpOpen, 7, map[string]string{"room": "r1"})
		_ = ca.Send(OpMsg, 7, json.RawMessage(`{"type":"ping","id":3}`))
		_ = ca.Send(OpShutdown, 0, nil)
	}()
	want := []struct {
		op   string
		sid  uint64
		data string
	}{
		{OpOpen, 7, `{"room":"r1"}`},
		{OpMsg, 7, `{"type":"ping","id":3}`},
		{OpShutdown, 0, ``},
	}
	for _, w := range want {
		f, err := cb.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if f.Op != w.op || f.Session != w.sid || string(f.Data) != w.data {
			t.Fatalf("got %+v (%s), want %+v", f, f.Data, w)
		}
	}
	wg.Wait()
}

func TestOversizedFrameRefused(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	cb := NewConn(b)
	defer cb.Close()
	go func() {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], MaxFrame+1)
		_, _ = a.Write(hdr[:])
	}()
	if _, err := cb.Recv(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}

func FuzzRecv(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0, 0, 0, 5, 'n', 'u', 'l', 'l', ' '})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		c := NewConn(b)
		go func() { _, _ = a.Write(data); a.Close() }()
		for {
			if _, err := c.Recv(); err != nil {
				break
			}
		}
		c.Close()
	})
}
