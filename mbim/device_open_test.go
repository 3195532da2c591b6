package mbim

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestDeviceNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ext      Version // the function's VERSION answer; 0: no MS extensions service
		noVerCID bool    // MS extensions listed without CID 15
		max      Version // WithMaxVersion; 0: default (3.0)
		want     Version
		asked    Version // MbimExtendedVersion in the VERSION query; 0: no query
		noDS     bool    // DEVICE_SERVICES is not sent
	}{
		{name: "no MS extensions", want: MBIMEx1},
		{name: "MS extensions without VERSION", ext: MBIMEx3, noVerCID: true, want: MBIMEx1},
		{name: "function 2.0", ext: MBIMEx2, want: MBIMEx2, asked: MBIMEx3},
		{name: "function 3.0", ext: MBIMEx3, want: MBIMEx3, asked: MBIMEx3},
		{name: "function 1.0", ext: MBIMEx1, want: MBIMEx1, asked: MBIMEx3},
		{name: "function 4.0 clamped", ext: 0x0400, want: MBIMEx3, asked: MBIMEx3},
		{name: "host wants 2.0", ext: MBIMEx3, max: MBIMEx2, want: MBIMEx2, asked: MBIMEx2},
		{name: "host wants 1.0", ext: MBIMEx3, max: MBIMEx1, want: MBIMEx1, noDS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.ext, f.extNoVer = tc.ext, tc.noVerCID
			var opts []Option
			if tc.max != 0 {
				opts = append(opts, WithMaxVersion(tc.max))
			}
			d := openDevice(t, host, opts...)
			if got := d.Version(); got != tc.want {
				t.Errorf("Version = %v, want %v", got, tc.want)
			}
			ds := f.commands(ServiceBasicConnect, CIDDeviceServices)
			if tc.noDS != (len(ds) == 0) {
				t.Errorf("DEVICE_SERVICES queries = %d", len(ds))
			}
			vq := f.commands(ServiceMsBasicConnectExtensions, CIDMsVersion)
			if tc.asked == 0 {
				if len(vq) != 0 {
					t.Errorf("VERSION sent %d times, want none", len(vq))
				}
				return
			}
			if len(vq) != 1 {
				t.Fatalf("VERSION sent %d times, want 1", len(vq))
			}
			var q MsVersionInfo
			if err := q.Decode(vq[0].InformationBuffer()); err != nil {
				t.Fatal(err)
			}
			if q.MbimVersion != 0x0100 || Version(q.MbimExtendedVersion) != tc.asked {
				t.Errorf("VERSION query = %04x/%04x, want 0100/%04x", q.MbimVersion, q.MbimExtendedVersion, uint16(tc.asked))
			}
		})
	}
}

func TestDeviceNegotiationFailureStaysV1(t *testing.T) {
	f, host := newFake(t, 4096)
	f.ext = MBIMEx3
	f.handle(ServiceBasicConnect, CIDDeviceServices, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		return fakeDone(f.t, req, StatusFailure, nil)
	})
	d := openDevice(t, host)
	if d.Version() != MBIMEx1 {
		t.Errorf("Version = %v, want 1.0", d.Version())
	}
	if n := len(f.commands(ServiceMsBasicConnectExtensions, CIDMsVersion)); n != 0 {
		t.Errorf("VERSION sent %d times", n)
	}
}

func TestDeviceCloseBeforeOpen(t *testing.T) {
	t.Run("OPEN answered by CLOSE_DONE (Q1)", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			first := true
			f.openReply = func(f *fakeFn, req Message) fakeOut {
				if first {
					first = false
					// A Sierra EM7345 with a stale session: CLOSE_DONE, and
					// not even the OPEN's TID.
					return fakeMsgs(AppendCloseDone(nil, 0x1234, StatusSuccess))
				}
				return f.acceptOpen(req)
			}
			start := time.Now()
			d := openDevice(t, host)
			if took := time.Since(start); took != 0 {
				t.Errorf("open took %v: the CLOSE_DONE did not abort the OPEN at once", took)
			}
			wantSequence(t, f, TypeOpen, TypeClose, TypeOpen)
			if _, err := d.RadioState(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("OPEN_DONE failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			first := true
			f.openReply = func(f *fakeFn, req Message) fakeOut {
				if first {
					first = false
					return fakeMsgs(AppendOpenDone(nil, req.TransactionID(), StatusFailure))
				}
				return f.acceptOpen(req)
			}
			start := time.Now()
			openDevice(t, host)
			if took := time.Since(start); took != 0 {
				t.Errorf("open took %v", took)
			}
			wantSequence(t, f, TypeOpen, TypeClose, TypeOpen)
		})
	})
	t.Run("first OPEN unanswered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			first := true
			f.openReply = func(f *fakeFn, req Message) fakeOut {
				if first {
					first = false
					return fakeOut{} // silence
				}
				return f.acceptOpen(req)
			}
			start := time.Now()
			d := openDevice(t, host)
			if took := time.Since(start); took != DefaultOpenAttemptTimeout {
				t.Errorf("open took %v, want one attempt timeout (%v)", took, DefaultOpenAttemptTimeout)
			}
			wantSequence(t, f, TypeOpen, TypeClose, TypeOpen)
			opens := f.received(TypeOpen)
			if opens[0].TransactionID() == opens[1].TransactionID() {
				t.Error("OPEN retried with the same TID")
			}
			if d.Stats().Timeouts != 1 {
				t.Errorf("Timeouts = %d, want 1", d.Stats().Timeouts)
			}
		})
	})
	t.Run("slow function: OPEN resent every 5 s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			n := 0
			f.openReply = func(f *fakeFn, req Message) fakeOut {
				n++
				if n < 4 {
					return fakeOut{}
				}
				return f.acceptOpen(req)
			}
			start := time.Now()
			openDevice(t, host)
			if took := time.Since(start); took != 3*DefaultOpenAttemptTimeout {
				t.Errorf("open took %v, want %v", took, 3*DefaultOpenAttemptTimeout)
			}
			// Only the first timeout suggests an unknown state.
			wantSequence(t, f, TypeOpen, TypeClose, TypeOpen, TypeOpen, TypeOpen)
		})
	})
	t.Run("never answers: Open ends with ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.openReply = func(f *fakeFn, req Message) fakeOut { return fakeOut{} }
			ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
			defer cancel()
			_, err := Open(ctx, host)
			var te *TimeoutError
			if !errors.As(err, &te) || te.Type != TypeOpen || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Open = %v, want an OPEN *TimeoutError", err)
			}
		})
	})
}

// wantSequence checks the OPEN/CLOSE messages the function received.
func wantSequence(t *testing.T, f *fakeFn, want ...MessageType) {
	t.Helper()
	var got []MessageType
	for _, m := range f.received(0) {
		if m.Type() == TypeOpen || m.Type() == TypeClose {
			got = append(got, m.Type())
		}
	}
	if len(got) != len(want) {
		t.Fatalf("OPEN/CLOSE sequence = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("OPEN/CLOSE sequence = %v, want %v", got, want)
		}
	}
}

func TestDeviceSubscribeList(t *testing.T) {
	t.Run("at open and set later", func(t *testing.T) {
		f, host := newFake(t, 4096)
		d := openDevice(t, host, WithDeviceSubscriptions(DefaultDeviceSubscriptions()...))
		got := f.subListCopy()
		if len(got) != 1 || got[0].DeviceServiceId != ServiceBasicConnect {
			t.Fatalf("subscribe list at open = %+v", got)
		}
		if want := []uint32{2, 3, 9, 10, 11, 12, 15}; !equalU32(got[0].Cids, want) {
			t.Errorf("CIDs = %v, want %v", got[0].Cids, want)
		}
		list := append(DefaultDeviceSubscriptions(), EventEntry{DeviceServiceId: ServiceMsBasicConnectExtensions, Cids: []uint32{4, 9}})
		if err := d.SetDeviceSubscriptions(ctxT(t), list...); err != nil {
			t.Fatal(err)
		}
		if got := f.subListCopy(); len(got) != 2 || !equalU32(got[1].Cids, []uint32{4, 9}) {
			t.Errorf("subscribe list = %+v", got)
		}
		list[1].Cids[0] = 99 // the Device keeps its own copy
		if got := d.DeviceSubscriptions(); got[1].Cids[0] != 4 {
			t.Errorf("DeviceSubscriptions = %+v", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		f, host := newFake(t, 4096)
		f.handle(ServiceBasicConnect, CIDDeviceServiceSubscribeList, CommandSet, func(f *fakeFn, req Message) fakeOut {
			return fakeDone(f.t, req, StatusInvalidParameters, nil)
		})
		_, err := Open(ctxT(t), host, WithDeviceSubscriptions(DefaultDeviceSubscriptions()...))
		if !errors.Is(err, StatusInvalidParameters) {
			t.Errorf("Open = %v, want StatusInvalidParameters", err)
		}
	})
}

func (f *fakeFn) subListCopy() []EventEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneEvents(f.subList)
}

func equalU32(a, b []uint32) bool {
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
