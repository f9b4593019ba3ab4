package queue

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func payload(b byte, size int) []byte {
	return bytes.Repeat([]byte{b}, size)
}

func TestOrder(t *testing.T) {
	t.Parallel()
	q := New[int](8)
	for i := range 5 {
		if !q.Push(i, payload(byte(i), 10+i)) {
			t.Fatalf("Push(%d) = false", i)
		}
	}
	if got := q.Len(); got != 5 {
		t.Errorf("Len() = %d, want 5", got)
	}
	batch := make([]Item[int], 3)
	next := 0
	for _, want := range []int{3, 2} {
		n, ok := q.Pop(batch)
		if !ok || n != want {
			t.Fatalf("Pop = %d, %v; want %d, true", n, ok, want)
		}
		for _, it := range batch[:n] {
			if it.Dst != next || !bytes.Equal(it.Data, payload(byte(next), 10+next)) {
				t.Errorf("item %d: dst %d, %d bytes", next, it.Dst, len(it.Data))
			}
			next++
		}
	}
	if got := q.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
}

func TestWrapAround(t *testing.T) {
	t.Parallel()
	q := New[int](3)
	batch := make([]Item[int], 2)
	next, want := 0, 0
	for range 20 {
		for q.Push(next, payload(byte(next), 20)) {
			next++
		}
		n, ok := q.Pop(batch)
		if !ok || n == 0 {
			t.Fatalf("Pop = %d, %v", n, ok)
		}
		for _, it := range batch[:n] {
			if it.Dst != want || !bytes.Equal(it.Data, payload(byte(want), 20)) {
				t.Fatalf("got item %d, want %d", it.Dst, want)
			}
			want++
		}
	}
}

func TestDrops(t *testing.T) {
	t.Parallel()
	q := New[string](2)
	results := []bool{
		q.Push("a", payload(1, 100)),
		q.Push("b", payload(2, MaxPacket)),
		q.Push("c", payload(3, 100)),         // full
		q.Push("d", payload(4, MaxPacket+1)), // too big
	}
	if want := []bool{true, true, false, false}; !equal(results, want) {
		t.Errorf("Push results %v, want %v", results, want)
	}
	q.Close()
	if q.Push("e", payload(5, 1)) {
		t.Error("Push after Close = true")
	}
	want := Stats{Pushed: 2, DroppedFull: 1, DroppedTooBig: 1, DroppedClosed: 1}
	if got := q.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLentBuffersStayValid checks that packets handed out by Pop are not
// overwritten by Pushes before the next Pop, and count against capacity.
func TestLentBuffersStayValid(t *testing.T) {
	t.Parallel()
	q := New[int](2)
	q.Push(1, payload(1, 50))
	batch := make([]Item[int], 4)
	if n, _ := q.Pop(batch); n != 1 {
		t.Fatalf("Pop = %d, want 1", n)
	}
	if !q.Push(2, payload(2, 50)) {
		t.Fatal("Push into the free slot = false")
	}
	if q.Push(3, payload(3, 50)) {
		t.Fatal("Push over a lent slot = true")
	}
	if !bytes.Equal(batch[0].Data, payload(1, 50)) {
		t.Fatal("lent packet overwritten")
	}
	if n, _ := q.Pop(batch); n != 1 || batch[0].Dst != 2 {
		t.Fatalf("Pop = %d (dst %d), want 1 (dst 2)", n, batch[0].Dst)
	}
	if !q.Push(3, payload(3, 50)) {
		t.Fatal("Push after the slot came back = false")
	}
}

func TestPopEmptyBatch(t *testing.T) {
	t.Parallel()
	q := New[int](1)
	q.Push(1, payload(1, 5))
	batch := make([]Item[int], 1)
	q.Pop(batch)
	if n, ok := q.Pop(nil); n != 0 || !ok {
		t.Errorf("Pop(nil) = %d, %v; want 0, true", n, ok)
	}
	if !q.Push(2, payload(2, 5)) {
		t.Error("Pop(nil) did not give back the lent slot")
	}
	q.Close()
	if n, ok := q.Pop(nil); n != 0 || ok {
		t.Errorf("Pop(nil) after Close = %d, %v; want 0, false", n, ok)
	}
}

func TestCloseDiscardsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	q := New[*int](4)
	v := 7
	q.Push(&v, payload(1, 5))
	q.Push(&v, payload(2, 5))
	batch := make([]Item[*int], 1)
	if n, ok := q.Pop(batch); n != 1 || !ok {
		t.Fatalf("Pop = %d, %v", n, ok)
	}
	q.Close()
	q.Close()
	if !bytes.Equal(batch[0].Data, payload(1, 5)) {
		t.Error("Close overwrote a lent packet")
	}
	if got := q.Len(); got != 0 {
		t.Errorf("Len() after Close = %d, want 0", got)
	}
	if n, ok := q.Pop(batch); n != 0 || ok {
		t.Errorf("Pop after Close = %d, %v; want 0, false", n, ok)
	}
	for i := range q.slots {
		if q.slots[i].dst != nil {
			t.Errorf("slot %d still holds its destination", i)
		}
	}
}

func TestCloseWakesConsumer(t *testing.T) {
	t.Parallel()
	q := New[int](4)
	done := make(chan bool)
	go func() {
		_, ok := q.Pop(make([]Item[int], 4))
		done <- ok
	}()
	// Give the consumer time to block; the test is correct either way.
	time.Sleep(10 * time.Millisecond)
	q.Close()
	select {
	case ok := <-done:
		if ok {
			t.Error("Pop returned ok=true after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the consumer")
	}
}

func TestPushWakesConsumer(t *testing.T) {
	t.Parallel()
	q := New[int](4)
	done := make(chan int)
	go func() {
		batch := make([]Item[int], 4)
		n, _ := q.Pop(batch)
		done <- batch[n-1].Dst
	}()
	time.Sleep(10 * time.Millisecond)
	q.Push(42, payload(1, 5))
	select {
	case got := <-done:
		if got != 42 {
			t.Errorf("Pop got dst %d, want 42", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Push did not wake the consumer")
	}
	q.Close()
}

// TestConcurrent runs four producers against one consumer. Under -race it
// checks the locking; it also checks that every accepted packet arrives
// intact and in each producer's order, and that accepted plus dropped
// packets add up.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const producers, perProducer = 4, 5000
	q := New[int](64)

	received := make(chan int)
	go func() {
		batch := make([]Item[int], 16)
		last := make([]int, producers)
		for i := range last {
			last[i] = -1
		}
		total := 0
		for {
			n, ok := q.Pop(batch)
			if !ok {
				received <- total
				return
			}
			for _, it := range batch[:n] {
				seq := int(binary.BigEndian.Uint32(it.Data))
				if seq <= last[it.Dst] {
					t.Errorf("producer %d: seq %d after %d", it.Dst, seq, last[it.Dst])
				}
				if len(it.Data) != 100+seq%200 || it.Data[len(it.Data)-1] != byte(seq) {
					t.Errorf("producer %d: seq %d torn", it.Dst, seq)
				}
				last[it.Dst] = seq
				total++
			}
		}
	}()

	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, MaxPacket)
			for seq := range perProducer {
				pkt := buf[:100+seq%200]
				binary.BigEndian.PutUint32(pkt, uint32(seq))
				pkt[len(pkt)-1] = byte(seq)
				q.Push(p, pkt)
			}
		}()
	}
	wg.Wait()
	for q.Len() > 0 {
		runtime.Gosched()
	}
	// The consumer has taken every packet; Close discards none.
	q.Close()
	total := <-received

	st := q.Stats()
	if st.Pushed+st.DroppedFull != producers*perProducer {
		t.Errorf("pushed %d + dropped %d != %d", st.Pushed, st.DroppedFull, producers*perProducer)
	}
	if uint64(total) != st.Pushed {
		t.Errorf("consumer received %d, pushed %d", total, st.Pushed)
	}
}

// BenchmarkPushPop pushes and pops in one goroutine: the cost of the
// queue without any waiting.
func BenchmarkPushPop(b *testing.B) {
	q := New[int](256)
	pkt := payload(1, 1200)
	batch := make([]Item[int], 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		q.Push(1, pkt)
		q.Pop(batch)
	}
}

func benchmarkProducers(b *testing.B, producers int) {
	q := New[int](256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := make([]Item[int], 16)
		for {
			if _, ok := q.Pop(batch); !ok {
				return
			}
		}
	}()
	pkt := payload(1, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < b.N; i += producers {
				for !q.Push(p, pkt) {
					runtime.Gosched() // full: let the consumer catch up
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	q.Close()
	<-done
}

// BenchmarkProducers1 moves packets from one producer goroutine to a
// consumer goroutine popping batches of 16; every packet is delivered.
func BenchmarkProducers1(b *testing.B) { benchmarkProducers(b, 1) }

// BenchmarkProducers4 is BenchmarkProducers1 with four producers.
func BenchmarkProducers4(b *testing.B) { benchmarkProducers(b, 4) }
