package usbtransport

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// This file is a conformance suite for mbim.Transport implementations: the
// same subtests run against every transport with a peer that plays the
// function end (style.md, practice 8). It is written to move into a shared
// package (mbim/transporttest) once one exists.

// peer is the function end of a transport under test.
type peer interface {
	// Send writes b towards the host. It may block until the host reads
	// (net.Pipe does), so the suite calls it from a goroutine.
	Send(b []byte) error
	// Recv reads exactly n bytes the host wrote.
	Recv(n int) ([]byte, error)
}

// openFunc returns a fresh host transport and its peer; cleanup is the
// caller's business through t.Cleanup.
type openFunc func(t *testing.T) (mbim.Transport, peer)

const suiteTimeout = 5 * time.Second

func runTransportConformance(t *testing.T, open openFunc) {
	t.Run("RoundTrip", func(t *testing.T) {
		host, p := open(t)
		max := host.MaxControlTransfer()
		if max < 64 {
			t.Fatalf("MaxControlTransfer %d is below MBIM's minimum of 64", max)
		}
		msgs := [][]byte{
			mbim.AppendOpen(nil, 1, uint32(max)),
			mbim.AppendCommand(nil, 2, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil),
			mbim.AppendCommand(nil, 3, mbim.ServiceBasicConnect, 12, mbim.CommandSet, bytes.Repeat([]byte{0xa5}, max-48)),
		}
		for _, m := range msgs {
			errc := goErr(func() error { return host.WriteControl(ctx(t), m) })
			got, err := p.Recv(len(m))
			if err != nil {
				t.Fatalf("peer read of a %d-byte message: %v", len(m), err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("WriteControl(%d bytes): %v", len(m), err)
			}
			if !bytes.Equal(got, m) {
				t.Fatalf("peer got %x, want %x", got, m)
			}
		}
		replies := [][]byte{
			mbim.AppendOpenDone(nil, 1, mbim.StatusSuccess),
			mbim.AppendCommandDone(nil, 3, mbim.ServiceBasicConnect, 12, mbim.StatusSuccess, bytes.Repeat([]byte{0x5a}, max-48)),
		}
		for _, m := range replies {
			errc := goErr(func() error { return p.Send(m) })
			got := readMessage(t, host)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, m) {
				t.Fatalf("host read %x, want %x", got, m)
			}
		}
	})

	t.Run("CancelUnblocksRead", func(t *testing.T) {
		host, p := open(t)
		c, cancel := context.WithCancel(context.Background())
		errc := goErr(func() error {
			_, err := host.ReadControl(c, make([]byte, host.MaxControlTransfer()))
			return err
		})
		time.Sleep(20 * time.Millisecond) // let the read block
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("read returned %v, want context.Canceled", err)
			}
		case <-time.After(suiteTimeout):
			t.Fatal("cancel did not unblock the read")
		}
		// The transport is still usable: the deadline was cleared.
		m := mbim.AppendOpenDone(nil, 7, mbim.StatusSuccess)
		errc = goErr(func() error { return p.Send(m) })
		if got := readMessage(t, host); !bytes.Equal(got, m) {
			t.Fatalf("read after cancel: %x, want %x", got, m)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DeadlineUnblocksRead", func(t *testing.T) {
		host, _ := open(t)
		c, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := host.ReadControl(c, make([]byte, 64))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read returned %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > suiteTimeout {
			t.Fatalf("deadline took %v", d)
		}
	})

	t.Run("DoneContext", func(t *testing.T) {
		host, _ := open(t)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := host.ReadControl(c, make([]byte, 64)); !errors.Is(err, context.Canceled) {
			t.Errorf("read: %v, want context.Canceled", err)
		}
		if err := host.WriteControl(c, mbim.AppendClose(nil, 1)); !errors.Is(err, context.Canceled) {
			t.Errorf("write: %v, want context.Canceled", err)
		}
	})

	t.Run("CloseUnblocksRead", func(t *testing.T) {
		host, _ := open(t)
		errc := goErr(func() error {
			_, err := host.ReadControl(context.Background(), make([]byte, 64))
			return err
		})
		time.Sleep(20 * time.Millisecond)
		if err := host.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, mbim.ErrClosed) {
				t.Fatalf("read returned %v, want mbim.ErrClosed", err)
			}
		case <-time.After(suiteTimeout):
			t.Fatal("Close did not unblock the read")
		}
	})

	t.Run("UseAfterClose", func(t *testing.T) {
		host, _ := open(t)
		if err := host.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := host.ReadControl(ctx(t), make([]byte, 64)); !errors.Is(err, mbim.ErrClosed) {
			t.Errorf("read after Close: %v, want mbim.ErrClosed", err)
		}
		if err := host.WriteControl(ctx(t), mbim.AppendClose(nil, 1)); !errors.Is(err, mbim.ErrClosed) {
			t.Errorf("write after Close: %v, want mbim.ErrClosed", err)
		}
		if err := host.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("OversizeWriteRejected", func(t *testing.T) {
		host, p := open(t)
		big := mbim.AppendCommand(nil, 1, mbim.ServiceBasicConnect, 12, mbim.CommandSet, make([]byte, host.MaxControlTransfer()-48+1))
		if err := host.WriteControl(ctx(t), big); !errors.Is(err, mbim.ErrTooLarge) {
			t.Fatalf("WriteControl(%d bytes) with limit %d: %v, want mbim.ErrTooLarge", len(big), host.MaxControlTransfer(), err)
		}
		// Nothing of it reached the peer: the next bytes are the next message.
		m := mbim.AppendClose(nil, 2)
		errc := goErr(func() error { return host.WriteControl(ctx(t), m) })
		got, err := p.Recv(len(m))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("peer got %x after the refused write, want %x", got, m)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ConcurrentReadWrite", func(t *testing.T) {
		host, p := open(t)
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		wg.Add(4)
		go func() { // host writes
			defer wg.Done()
			for i := range n {
				if err := host.WriteControl(ctx(t), mbim.AppendOpen(nil, uint32(i), 4096)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // peer reads
			defer wg.Done()
			for i := range n {
				got, err := p.Recv(16)
				if err != nil {
					errs <- err
					return
				}
				if want := mbim.AppendOpen(nil, uint32(i), 4096); !bytes.Equal(got, want) {
					errs <- errors.New("peer got a message out of order")
					return
				}
			}
		}()
		go func() { // peer writes
			defer wg.Done()
			for i := range n {
				if err := p.Send(mbim.AppendOpenDone(nil, uint32(i), mbim.StatusSuccess)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // host reads
			defer wg.Done()
			var buf []byte
			chunk := make([]byte, host.MaxControlTransfer())
			for i := 0; i < n; {
				k, err := host.ReadControl(ctx(t), chunk)
				if err != nil {
					errs <- err
					return
				}
				buf = append(buf, chunk[:k]...)
				for len(buf) >= 16 {
					if want := mbim.AppendOpenDone(nil, uint32(i), mbim.StatusSuccess); !bytes.Equal(buf[:16], want) {
						errs <- errors.New("host read a message out of order")
						return
					}
					buf, i = buf[16:], i+1
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// readMessage reads one whole MBIM message from a transport, framing a
// byte stream by MessageLength as package mbim does.
func readMessage(t *testing.T, tr mbim.Transport) []byte {
	t.Helper()
	var stream []byte
	chunk := make([]byte, tr.MaxControlTransfer())
	for {
		if m, n, err := mbim.NextMessage(stream); err == nil {
			if n != len(stream) {
				t.Fatalf("read %d bytes beyond one message", len(stream)-n)
			}
			return m.Bytes()
		} else if !errors.Is(err, mbim.ErrIncomplete) {
			t.Fatalf("framing: %v", err)
		}
		k, err := tr.ReadControl(ctx(t), chunk)
		if err != nil {
			t.Fatalf("ReadControl: %v", err)
		}
		stream = append(stream, chunk[:k]...)
	}
}

// ctx is a context for one step of a test: it ends with the test, and
// after suiteTimeout so a broken transport fails instead of hanging.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), suiteTimeout)
	t.Cleanup(cancel)
	return c
}

func goErr(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

// pipePeer is the function end of mbim.Pipe.
type pipePeer struct{ t *mbim.ConnTransport }

func (p pipePeer) Send(b []byte) error {
	c, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	return p.t.WriteControl(c, b)
}

func (p pipePeer) Recv(n int) ([]byte, error) {
	c, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		k, err := p.t.ReadControl(c, buf[:n-len(out)])
		if err != nil {
			return out, err
		}
		out = append(out, buf[:k]...)
	}
	return out, nil
}

func TestConformancePipe(t *testing.T) {
	runTransportConformance(t, func(t *testing.T) (mbim.Transport, peer) {
		host, fn := mbim.Pipe(4096)
		t.Cleanup(func() { host.Close(); fn.Close() })
		return host, pipePeer{fn}
	})
}
