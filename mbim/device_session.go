package mbim

// The session life cycle (§1.10): OPEN with retries and close-before-open,
// MBIMEx negotiation (§4.1), and the re-open after NOT_OPENED (quirk Q3).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// establish opens the session (not at the first open with WithNoOpen),
// negotiates the MBIMEx version and sends the remembered subscribe list.
func (d *Device) establish(ctx context.Context, reopen bool) error {
	if reopen || d.o.noOpenTID == 0 {
		if err := d.openSession(ctx); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.opened = true
	list, set := d.subList, d.subListSet
	d.mu.Unlock()
	v, err := d.negotiate(ctx)
	if err != nil {
		return err
	}
	d.version.Store(uint32(v))
	d.logInfo("session open", slog.String("mbimex", v.String()), slog.Int("max_control_transfer", d.hostMax))
	if set {
		if err := d.sendSubscribeList(ctx, list, false); err != nil {
			return fmt.Errorf("mbim: open: subscribe list: %w", err)
		}
	}
	return nil
}

// openSession sends OPEN until OPEN_DONE says SUCCESS or ctx ends. Each
// attempt waits WithOpenAttemptTimeout; a new attempt has a new TID (Q2).
// When the function is in an unknown state (it answers OPEN with
// CLOSE_DONE, Q1; it answers with a failure; or the first attempt gets no
// answer at all), a CLOSE is sent first, its result ignored.
func (d *Device) openSession(ctx context.Context) error {
	closeFirst, failed, cycles := false, false, 0
	for attempt := 1; ; attempt++ {
		if closeFirst {
			closeFirst = false
			cycles++
			d.logDebug("close before open", slog.Int("attempt", attempt))
			cctx, cancel := context.WithTimeout(ctx, closeBeforeOpenTimeout)
			_, _ = d.simple(cctx, TypeClose, false)
			cancel()
		}
		st, err := d.openAttempt(ctx)
		var fe *FunctionError
		switch {
		case err == nil && st == StatusSuccess:
			return nil
		case err == nil:
			if failed || cycles >= maxCloseBeforeOpen {
				return fmt.Errorf("mbim: OPEN: %w", st)
			}
			failed, closeFirst = true, true
		case errors.Is(err, errUnknownState):
			if cycles >= maxCloseBeforeOpen {
				return err
			}
			closeFirst = true
		case errors.Is(err, errOpenAttempt):
			d.logDebug("no OPEN_DONE; sending OPEN again", slog.Int("attempt", attempt))
			if attempt == 1 {
				closeFirst = true
			}
		case errors.As(err, &fe) && !failed && cycles < maxCloseBeforeOpen:
			failed, closeFirst = true, true
		default:
			return err
		}
	}
}

// openAttempt sends one OPEN; errOpenAttempt means this attempt timed out
// while ctx still runs.
func (d *Device) openAttempt(ctx context.Context) (Status, error) {
	actx, cancel := context.WithTimeout(ctx, d.o.openAttemptTimeout)
	defer cancel()
	st, err := d.simple(actx, TypeOpen, false)
	var te *TimeoutError
	if errors.As(err, &te) && ctx.Err() == nil {
		return 0, errOpenAttempt
	}
	return st, err
}

// negotiate finds the MBIMEx version (§4.1): DEVICE_SERVICES, then, if MS
// Basic Connect Extensions lists VERSION, a VERSION query carrying the
// highest version wanted. The function's answer is adopted, clamped to
// [1.0, wanted]. A function that cannot answer stays at 1.0; only a closed
// Device or the end of ctx is an error.
func (d *Device) negotiate(ctx context.Context) (Version, error) {
	want := d.o.maxVersion
	if want <= MBIMEx1 {
		return MBIMEx1, nil
	}
	qctx, cancel := context.WithTimeout(ctx, d.o.timeout)
	r, err := d.command(qctx, ServiceBasicConnect, CIDDeviceServices, CommandQuery, nil, false)
	cancel()
	if err != nil {
		return d.stayV1(ctx, err)
	}
	var ds DeviceServicesInfo
	if err := ds.Decode(r.InformationBuffer()); err != nil {
		return d.stayV1(ctx, fmt.Errorf("mbim: DEVICE_SERVICES response: %w", err))
	}
	if !listsCID(&ds, ServiceMsBasicConnectExtensions, CIDMsVersion) {
		d.logDebug("no MS Basic Connect Extensions VERSION: MBIMEx 1.0")
		return MBIMEx1, nil
	}
	req := &MsVersionInfo{MbimVersion: uint16(MBIMEx1), MbimExtendedVersion: uint16(want)}
	qctx, cancel = context.WithTimeout(ctx, d.o.timeout)
	r, err = d.command(qctx, ServiceMsBasicConnectExtensions, CIDMsVersion, CommandQuery, req, false)
	cancel()
	if err != nil {
		return d.stayV1(ctx, err)
	}
	var vi MsVersionInfo
	if err := vi.Decode(r.InformationBuffer()); err != nil {
		return d.stayV1(ctx, fmt.Errorf("mbim: VERSION response: %w", err))
	}
	v := min(Version(vi.MbimExtendedVersion), want)
	if v < MBIMEx1 {
		v = MBIMEx1
	}
	return v, nil
}

func (d *Device) stayV1(ctx context.Context, err error) (Version, error) {
	if ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return 0, err
	}
	d.logWarn("MBIMEx negotiation failed; staying at 1.0", slog.Any("err", err))
	return MBIMEx1, nil
}

func listsCID(ds *DeviceServicesInfo, service UUID, cid uint32) bool {
	for i := range ds.DeviceServices {
		e := &ds.DeviceServices[i]
		if e.DeviceServiceId != service {
			continue
		}
		for _, c := range e.Cids {
			if c == cid {
				return true
			}
		}
	}
	return false
}

// recovery is one re-open in flight; callers that need it wait on done.
type recovery struct {
	done chan struct{}
	err  error
}

// recoverSession re-opens the session after NOT_OPENED, unless a recovery
// already completed since the caller sent its request (generation seen),
// and waits for it. Concurrent callers share one re-open.
func (d *Device) recoverSession(ctx context.Context, seen uint64) error {
	d.rmu.Lock()
	if d.gen.Load() != seen {
		d.rmu.Unlock()
		return nil
	}
	r := d.startRecoveryLocked()
	d.rmu.Unlock()
	if r == nil {
		if err := d.Err(); err != nil {
			return err
		}
		return ErrClosed
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// asyncRecover starts a re-open after an unsolicited NOT_OPENED, at most
// once per asyncRecoveryInterval.
func (d *Device) asyncRecover() {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if d.rec != nil || (!d.lastAsyncRc.IsZero() && time.Since(d.lastAsyncRc) < asyncRecoveryInterval) {
		return
	}
	d.lastAsyncRc = time.Now()
	d.startRecoveryLocked()
}

// startRecoveryLocked returns the recovery in flight or starts one; nil
// when the Device is shutting down. d.rmu is held.
func (d *Device) startRecoveryLocked() *recovery {
	if d.rec != nil {
		return d.rec
	}
	r := &recovery{done: make(chan struct{})}
	if !d.goHelper(func() { d.runRecovery(r) }) {
		return nil
	}
	d.rec = r
	return r
}

func (d *Device) runRecovery(r *recovery) {
	start := time.Now()
	ctx, cancel := withDefaultTimeout(d.lifeCtx, d.o.openTimeout)
	err := d.establish(ctx, true)
	cancel()
	dur := time.Since(start)
	d.rmu.Lock()
	if err == nil {
		d.gen.Add(1)
	}
	d.rec = nil
	r.err = err
	close(r.done)
	d.rmu.Unlock()
	if err != nil {
		d.st.recoveryFailures.Add(1)
		d.logWarn("re-open failed", slog.Any("err", err))
		d.emit(Event{Kind: EventRecoveryFailed, Err: err, Duration: dur})
		return
	}
	d.st.recoveries.Add(1)
	d.logInfo("session re-opened", slog.Duration("took", dur))
	d.emit(Event{Kind: EventRecovered, Version: d.Version(), Duration: dur})
}
