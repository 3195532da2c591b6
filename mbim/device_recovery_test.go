package mbim

// NOT_OPENED recovery, concurrency, Close with calls pending, and the
// round-trip benchmark.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestDeviceNotOpenedRecovery(t *testing.T) {
	t.Run("command retried after re-open", func(t *testing.T) {
		f, host := newFake(t, 4096)
		f.ext = MBIMEx2
		var events eventLog
		d := openDevice(t, host, WithEventHandler(events.add), WithDeviceSubscriptions(DefaultDeviceSubscriptions()...))
		f.reset() // the modem reset: it forgot the session and the subscribe list
		rs, err := d.RadioState(ctxT(t))
		if err != nil || rs.HwRadioState != RadioSwitchStateOn {
			t.Fatalf("RadioState after reset = %+v, %v", rs, err)
		}
		if n := len(f.received(TypeOpen)); n != 2 {
			t.Errorf("OPENs = %d, want 2", n)
		}
		if n := len(f.commands(ServiceMsBasicConnectExtensions, CIDMsVersion)); n != 2 {
			t.Errorf("negotiations = %d, want 2", n)
		}
		if got := f.subListCopy(); len(got) != 1 || len(got[0].Cids) != 7 {
			t.Errorf("subscribe list after re-open = %+v", got)
		}
		if n := len(f.commands(ServiceBasicConnect, CIDRadioState)); n != 2 {
			t.Errorf("RADIO_STATE sent %d times, want 2 (once retried)", n)
		}
		waitFor(t, "the recovery event", func() bool { return len(events.of(EventRecovered)) == 1 })
		if ev := events.of(EventRecovered)[0]; ev.Version != MBIMEx2 {
			t.Errorf("event = %+v", ev)
		}
		if st := d.Stats(); st.Recoveries != 1 || st.ProtocolErrors[ProtocolErrorNotOpened] != 1 {
			t.Errorf("stats %+v", st)
		}
		if d.Version() != MBIMEx2 {
			t.Errorf("Version = %v", d.Version())
		}
	})
	t.Run("re-open fails: no loop", func(t *testing.T) {
		f, host := newFake(t, 4096)
		var events eventLog
		d := openDevice(t, host, WithEventHandler(events.add))
		f.reset()
		f.mu.Lock()
		f.openReply = func(f *fakeFn, req Message) fakeOut {
			return fakeMsgs(AppendOpenDone(nil, req.TransactionID(), StatusBusy))
		}
		f.mu.Unlock()
		_, err := d.RadioState(ctxT(t))
		if !errors.Is(err, ProtocolErrorNotOpened) || !errors.Is(err, StatusBusy) {
			t.Fatalf("err = %v, want NOT_OPENED and the re-open's BUSY", err)
		}
		// One recovery: OPEN, CLOSE before OPEN, OPEN; the command is not
		// retried.
		if n := len(f.received(TypeOpen)); n != 3 {
			t.Errorf("OPENs = %d, want 3", n)
		}
		if n := len(f.commands(ServiceBasicConnect, CIDRadioState)); n != 1 {
			t.Errorf("RADIO_STATE sent %d times, want 1", n)
		}
		waitFor(t, "the failure event", func() bool { return len(events.of(EventRecoveryFailed)) == 1 })
		if st := d.Stats(); st.RecoveryFailures != 1 || st.Recoveries != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("concurrent callers share one re-open", func(t *testing.T) {
		f, host := newFake(t, 4096)
		d := openDevice(t, host)
		f.reset()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := d.RadioState(ctxT(t)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// Calls that got NOT_OPENED after the re-open retry at once.
		if n := len(f.received(TypeOpen)); n != 2 {
			t.Errorf("OPENs = %d, want 2", n)
		}
		if st := d.Stats(); st.Recoveries != 1 {
			t.Errorf("Recoveries = %d", st.Recoveries)
		}
	})
	t.Run("unsolicited NOT_OPENED", func(t *testing.T) {
		f, host := newFake(t, 4096)
		var events eventLog
		d := openDevice(t, host, WithEventHandler(events.add))
		f.reset()
		f.inject(fakeMsgs(AppendFunctionError(nil, 0, ProtocolErrorNotOpened)))
		waitFor(t, "the re-open", func() bool { return len(events.of(EventRecovered)) == 1 })
		if ev := events.of(EventFunctionError); len(ev) != 1 || !errors.Is(ev[0].Err, ProtocolErrorNotOpened) {
			t.Errorf("events = %v", events.ev)
		}
		if n := len(f.received(TypeOpen)); n != 2 {
			t.Errorf("OPENs = %d, want 2", n)
		}
		if _, err := d.RadioState(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if n := len(f.commands(ServiceBasicConnect, CIDRadioState)); n != 1 {
			t.Errorf("RADIO_STATE sent %d times", n)
		}
	})
	t.Run("without recovery", func(t *testing.T) {
		f, host := newFake(t, 4096)
		d := openDevice(t, host, WithoutRecovery())
		f.reset()
		_, err := d.RadioState(ctxT(t))
		var fe *FunctionError
		if !errors.As(err, &fe) || fe.Code != ProtocolErrorNotOpened || fe.TID == 0 {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.received(TypeOpen)); n != 1 {
			t.Errorf("OPENs = %d, want 1", n)
		}
	})
}

func TestDeviceConcurrentCalls(t *testing.T) {
	checkNoLeak(t)
	f, host := newFake(t, 4096)
	d := openDevice(t, host, WithMaxControlTransfer(64)) // fragments both ways for the subscribe lists
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 30 {
				var err error
				switch (g + i) % 3 {
				case 0:
					_, err = d.RadioState(ctxT(t))
				case 1:
					_, err = d.DeviceCaps(ctxT(t))
				default:
					err = d.SetDeviceSubscriptions(ctxT(t), DefaultDeviceSubscriptions()...)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, m := range f.received(TypeCommand) {
		if seen[m.TransactionID()] {
			t.Fatalf("tid %d used twice", m.TransactionID())
		}
		seen[m.TransactionID()] = true
	}
	if len(seen) != 16*30+1 {
		t.Errorf("%d commands", len(seen))
	}
	_ = d.Close()
}

func TestDeviceClosePending(t *testing.T) {
	t.Run("real time", func(t *testing.T) {
		checkNoLeak(t)
		f, host := newFake(t, 4096)
		f.handle(ServiceBasicConnect, CIDPin, CommandQuery, func(*fakeFn, Message) fakeOut { return fakeOut{} })
		d := openDevice(t, host)
		errc := make(chan error, 10)
		for range 10 {
			go func() {
				_, err := d.Pin(context.Background())
				errc <- err
			}()
		}
		waitFor(t, "10 queries", func() bool { return len(f.commands(ServiceBasicConnect, CIDPin)) == 10 })
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Errorf("pending call: %v, want ErrClosed", err)
			}
		}
		if n := len(f.received(TypeClose)); n != 1 {
			t.Errorf("CLOSEs = %d", n)
		}
	})
	t.Run("synctest, CLOSE unanswered", func(t *testing.T) {
		// The bubble fails the test if any goroutine outlives it.
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.handle(ServiceBasicConnect, CIDPin, CommandQuery, func(*fakeFn, Message) fakeOut { return fakeOut{} })
			d := openDevice(t, host)
			errc := make(chan error, 3)
			for range 3 {
				go func() {
					_, err := d.Pin(context.Background())
					errc <- err
				}()
			}
			synctest.Wait()
			f.handleClose(func(*fakeFn, Message) fakeOut { return fakeOut{} })
			start := time.Now()
			_ = d.Close()
			if took := time.Since(start); took != DefaultCloseTimeout {
				t.Errorf("Close took %v, want %v", took, DefaultCloseTimeout)
			}
			for range 3 {
				if err := <-errc; !errors.Is(err, ErrClosed) {
					t.Errorf("pending call: %v", err)
				}
			}
		})
	})
}

// handleClose makes the function answer CLOSE with h.
func (f *fakeFn) handleClose(h fakeHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeReply = h
}

// BenchmarkRoundTrip measures a typed query through the client, the Pipe
// and a function that answers from a reused buffer (so the allocations
// reported are the client's and the transport's).
func BenchmarkRoundTrip(b *testing.B) {
	f, host := newFake(b, 4096)
	info := []byte{1, 0, 0, 0, 1, 0, 0, 0}
	f.fast = func(req Message, dst []byte) []byte {
		if req.CID() != CIDRadioState {
			return nil
		}
		return AppendCommandDone(dst, req.TransactionID(), req.Service(), req.CID(), StatusSuccess, info)
	}
	d := openDevice(b, host)
	run := func(b *testing.B, ctx context.Context) {
		var rs RadioStateInfo
		b.ReportAllocs()
		for b.Loop() {
			if err := d.Query(ctx, ServiceBasicConnect, CIDRadioState, nil, &rs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("deadline", func(b *testing.B) {
		// The caller's context has a deadline: the common case.
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		run(b, ctx)
	})
	b.Run("background", func(b *testing.B) {
		// No deadline: the Device adds its default timeout per call.
		run(b, context.Background())
	})
}

// loopTransport is a Transport that answers every write at once from the
// same goroutine, through a channel: it allocates nothing itself, so an
// allocation test over it measures the client alone.
type loopTransport struct {
	answer  func(req Message, dst []byte) []byte
	in      chan []byte
	pending []byte
	bufs    [4][]byte
	next    int
	closed  chan struct{}
	once    sync.Once
}

func newLoopTransport(answer func(req Message, dst []byte) []byte) *loopTransport {
	return &loopTransport{answer: answer, in: make(chan []byte, 4), closed: make(chan struct{})}
}

func (l *loopTransport) WriteControl(ctx context.Context, p []byte) error {
	m, err := ParseMessage(p)
	if err != nil {
		return err
	}
	var out []byte
	switch m.Type() {
	case TypeOpen:
		out = AppendOpenDone(l.bufs[l.next][:0], m.TransactionID(), StatusSuccess)
	case TypeClose:
		out = AppendCloseDone(l.bufs[l.next][:0], m.TransactionID(), StatusSuccess)
	case TypeCommand:
		out = l.answer(m, l.bufs[l.next][:0])
	}
	l.bufs[l.next] = out
	l.next = (l.next + 1) % len(l.bufs)
	select {
	case l.in <- out:
		return nil
	case <-l.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *loopTransport) ReadControl(ctx context.Context, p []byte) (int, error) {
	if len(l.pending) == 0 {
		select {
		case l.pending = <-l.in:
		case <-l.closed:
			return 0, ErrClosed
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

func (l *loopTransport) MaxControlTransfer() int { return 4096 }

func (l *loopTransport) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// TestDeviceQueryAllocs: a typed query allocates once (the copy of the
// COMMAND_DONE that the decoded body aliases), whatever the transport
// costs.
func TestDeviceQueryAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes sync.Pool's behaviour")
	}
	info := []byte{1, 0, 0, 0, 1, 0, 0, 0}
	lt := newLoopTransport(func(req Message, dst []byte) []byte {
		if req.CID() == CIDRadioState {
			return AppendCommandDone(dst, req.TransactionID(), req.Service(), req.CID(), StatusSuccess, info)
		}
		return AppendCommandDone(dst, req.TransactionID(), req.Service(), req.CID(), StatusNoDeviceSupport, nil)
	})
	d := openDevice(t, lt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rs RadioStateInfo
	n := testing.AllocsPerRun(1000, func() {
		if err := d.Query(ctx, ServiceBasicConnect, CIDRadioState, nil, &rs); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("Query allocates %.1f times per call, want 1", n)
	}
}
