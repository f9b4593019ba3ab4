package rtpcache

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
)

// packet returns an RTP packet with sequence number seq and size bytes,
// whose payload bytes are derived from seq so copies can be checked.
func packet(seq uint16, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x80
	p[1] = 96
	binary.BigEndian.PutUint16(p[2:], seq)
	for i := minHeader; i < size; i++ {
		p[i] = byte(seq) + byte(i)
	}
	return p
}

func get(t *testing.T, c *Cache, seq uint16) []byte {
	t.Helper()
	buf := make([]byte, MaxPacket)
	n := c.Get(seq, buf)
	return buf[:n]
}

func TestNewRoundsUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int }{
		{-1, 1}, {0, 1}, {1, 1}, {3, 4}, {512, 512}, {513, 1024},
	} {
		if got := New(tc.in).Capacity(); got != tc.want {
			t.Errorf("New(%d).Capacity() = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestStoreGet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		capacity int
		store    []uint16
		present  []uint16
		absent   []uint16
	}{
		{
			name:     "empty",
			capacity: 8,
			absent:   []uint16{0, 1, 65535},
		},
		{
			name:     "in order",
			capacity: 8,
			store:    []uint16{10, 11, 12},
			present:  []uint16{10, 11, 12},
			absent:   []uint16{9, 13, 10 + 8, 10 - 8},
		},
		{
			name:     "wraparound 65535 to 0",
			capacity: 8,
			store:    []uint16{65533, 65534, 65535, 0, 1, 2},
			present:  []uint16{65533, 65534, 65535, 0, 1, 2},
			absent:   []uint16{3, 65532},
		},
		{
			name:     "eviction keeps the newest capacity packets",
			capacity: 4,
			store:    []uint16{1, 2, 3, 4, 5, 6},
			present:  []uint16{3, 4, 5, 6},
			absent:   []uint16{1, 2, 7},
		},
		{
			name:     "same slot other seq is not returned",
			capacity: 4,
			store:    []uint16{1, 9},
			present:  []uint16{9},
			absent:   []uint16{1, 5, 13},
		},
		{
			name:     "gap leaves stale slots that must not match",
			capacity: 4,
			store:    []uint16{1, 2, 3, 4, 7},
			present:  []uint16{4, 7},
			absent:   []uint16{3, 5, 6, 1, 2},
		},
		{
			name:     "reordered within window is stored",
			capacity: 8,
			store:    []uint16{10, 12, 11},
			present:  []uint16{10, 11, 12},
		},
		{
			name:     "too old is not stored and does not evict",
			capacity: 4,
			store:    []uint16{10, 11, 12, 13, 9, 5},
			present:  []uint16{10, 11, 12, 13},
			absent:   []uint16{9, 5},
		},
		{
			name:     "jump back beyond maxJump restarts the window",
			capacity: 4,
			store:    []uint16{30000, 30001, 30001 - maxJump - 1, 30001 - maxJump, 30001 - maxJump + 1},
			present:  []uint16{30001 - maxJump - 1, 30001 - maxJump, 30001 - maxJump + 1},
			absent:   []uint16{30000, 30001},
		},
		{
			name:     "jump back within maxJump is too old",
			capacity: 4,
			store:    []uint16{30000, 30001, 30001 - maxJump},
			present:  []uint16{30000, 30001},
			absent:   []uint16{30001 - maxJump},
		},
		{
			name:     "reordered across wrap",
			capacity: 8,
			store:    []uint16{0, 65535, 1},
			present:  []uint16{65535, 0, 1},
		},
		{
			name:     "seq 65536 packets ago in same slot is not returned",
			capacity: 4,
			store:    []uint16{100, 20001, 40002, 60003, 101},
			present:  []uint16{101},
			absent:   []uint16{100, 60003, 40002},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := New(tc.capacity)
			for _, s := range tc.store {
				c.Store(packet(s, 100+int(s%200)))
			}
			for _, s := range tc.present {
				if got, want := get(t, c, s), packet(s, 100+int(s%200)); !bytes.Equal(got, want) {
					t.Errorf("Get(%d) = %d bytes, want the stored packet", s, len(got))
				}
			}
			for _, s := range tc.absent {
				if got := get(t, c, s); len(got) != 0 {
					t.Errorf("Get(%d) = %d bytes (seq %d), want 0", s, len(got),
						binary.BigEndian.Uint16(got[2:]))
				}
			}
		})
	}
}

func TestStoreRejects(t *testing.T) {
	t.Parallel()
	c := New(4)
	c.Store(make([]byte, minHeader-1))
	c.Store(nil)
	c.Store(packet(7, MaxPacket+1))
	c.Store(packet(8, MaxPacket))
	c.Store(packet(9, minHeader))
	for _, s := range []uint16{20, 21, 22, 23, 24, 1} {
		c.Store(packet(s, 50))
	}
	want := Stats{Stored: 7, TooBig: 1, TooShort: 2, TooOld: 1}
	if got := c.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if n := c.Get(7, make([]byte, 4000)); n != 0 {
		t.Errorf("Get of an oversize packet = %d, want 0", n)
	}
}

func TestGetShortDst(t *testing.T) {
	t.Parallel()
	c := New(4)
	p := packet(5, 200)
	c.Store(p)
	if n := c.Get(5, make([]byte, 199)); n != 0 {
		t.Errorf("Get into a short dst = %d, want 0", n)
	}
	if n := c.Get(5, make([]byte, 200)); n != 200 {
		t.Errorf("Get into an exact dst = %d, want 200", n)
	}
}

func TestStoreCopies(t *testing.T) {
	t.Parallel()
	c := New(4)
	p := packet(5, 100)
	want := bytes.Clone(p)
	c.Store(p)
	p[50] ^= 0xff
	if got := get(t, c, 5); !bytes.Equal(got, want) {
		t.Error("Store kept a reference to the caller's buffer")
	}
}

// TestConcurrent runs one writer and several readers; under -race it
// checks the locking, and it checks that Get never returns a packet with
// another sequence number or torn contents.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const total = 20000
	c := New(64)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range total {
			c.Store(packet(uint16(i), 100+i%300))
		}
	}()
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, MaxPacket)
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				seq := uint16(i*7 + r)
				n := c.Get(seq, buf)
				if n == 0 {
					continue
				}
				if want := packet(seq, 100+int(seq)%300); !bytes.Equal(buf[:n], want) {
					t.Errorf("Get(%d) returned a different or torn packet", seq)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkStore(b *testing.B) {
	c := New(512)
	p := packet(0, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		c.Store(p)
	}
}

func BenchmarkGet(b *testing.B) {
	c := New(512)
	for i := range 512 {
		c.Store(packet(uint16(i), 1200))
	}
	buf := make([]byte, MaxPacket)
	b.ReportAllocs()
	b.SetBytes(1200)
	for i := 0; b.Loop(); i++ {
		if c.Get(uint16(i&511), buf) == 0 {
			b.Fatal("miss")
		}
	}
}

// BenchmarkGetParallel measures Get from several goroutines while one
// goroutine keeps storing, as when subscribers NACK a live track.
func BenchmarkGetParallel(b *testing.B) {
	c := New(512)
	for i := range 512 {
		c.Store(packet(uint16(i), 1200))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := packet(0, 1200)
		for i := 512; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			binary.BigEndian.PutUint16(p[2:], uint16(i))
			c.Store(p)
		}
	}()
	b.ReportAllocs()
	b.SetBytes(1200)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, MaxPacket)
		for i := 0; pb.Next(); i++ {
			c.Get(uint16(i), buf)
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
}

// BenchmarkStoreContended measures Store while two goroutines keep
// calling Get, the case the per-slot locks are chosen for.
func BenchmarkStoreContended(b *testing.B) {
	c := New(512)
	for i := range 512 {
		c.Store(packet(uint16(i), 1200))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, MaxPacket)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c.Get(uint16(i), buf)
			}
		}()
	}
	p := packet(0, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for i := 512; b.Loop(); i++ {
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		c.Store(p)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
}

// FuzzStoreGet stores packets whose seqs move by small steps back and
// forth, and checks that Get returns either nothing or exactly the last
// packet stored with that seq, and always returns the newest packet.
func FuzzStoreGet(f *testing.F) {
	f.Add(uint16(65530), []byte{1, 1, 1, 1, 1, 1, 1, 1, 0xff, 0xfe, 3})
	f.Add(uint16(0), []byte{0x7f, 0x7f, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, start uint16, steps []byte) {
		c := New(8)
		seq := start
		newest := start
		held := map[uint16][]byte{}
		for i, st := range steps {
			seq += uint16(int8(st))
			p := packet(seq, minHeader+i%50)
			c.Store(p)
			if i == 0 || int16(seq-newest) > 0 {
				newest = seq
			}
			switch d := int16(newest - seq); {
			case d < 8:
				held[seq] = p
			case d > maxJump:
				newest = seq
				held[seq] = p
			}
			buf := make([]byte, MaxPacket)
			if n := c.Get(newest, buf); n == 0 {
				t.Fatalf("newest seq %d not held", newest)
			}
			for s := newest - 20; s != newest+5; s++ {
				n := c.Get(s, buf)
				if n == 0 {
					continue
				}
				if !bytes.Equal(buf[:n], held[s]) {
					t.Fatalf("Get(%d) returned a packet not stored last with that seq", s)
				}
			}
		}
	})
}
