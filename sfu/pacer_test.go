package sfu

import (
	"errors"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
)

// The pacer sends each packet on its stream's writer and forgets a stream
// once its sender stops (the unbinder hears it).
func TestStreamPacer(t *testing.T) {
	t.Parallel()
	p := newStreamPacer()
	var got []uint32
	w := interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		got = append(got, h.SSRC)
		return 0, nil
	})
	p.AddStream(1, w)
	p.AddStream(2, w)
	u, err := pacerUnbinderFactory{p}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	u.UnbindLocalStream(&interceptor.StreamInfo{SSRC: 1})
	if n := p.streams(); n != 1 {
		t.Fatalf("%d streams after one of two stopped", n)
	}
	if _, err := p.Write(&rtp.Header{SSRC: 1}, nil, nil); !errors.Is(err, gcc.ErrUnknownStream) {
		t.Errorf("a packet of the stopped stream: %v", err)
	}
	if _, err := p.Write(&rtp.Header{SSRC: 2}, nil, nil); err != nil || len(got) != 1 || got[0] != 2 {
		t.Errorf("a packet of the live stream: %v, written %v", err, got)
	}
}
