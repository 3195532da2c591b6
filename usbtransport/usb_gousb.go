//go:build gousb

package usbtransport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/gousb"
	"github.com/gowwan/wwan/mbim"
	pkgerrors "github.com/pkg/errors"
)

// defaultControlTimeout bounds a control transfer whose context has no
// deadline: libusb's synchronous control transfers cannot be cancelled, so
// a context without a deadline cannot interrupt one sooner.
const defaultControlTimeout = 5 * time.Second

// USB is the MBIM control channel driven directly through libusb: it claims
// the MBIM interfaces (detaching cdc_mbim), sends each message with
// SEND_ENCAPSULATED_COMMAND, and reads responses the way the kernel's
// cdc-wdm does: a goroutine reads the interrupt endpoint and, for every
// RESPONSE_AVAILABLE, issues GET_ENCAPSULATED_RESPONSE until the function
// returns 0 bytes. A read returns one response (or the rest of one when p
// is smaller). NETWORK_CONNECTION and CONNECTION_SPEED_CHANGE, which
// cdc-wdm drops, arrive on Notifications.
//
// It implements mbim.Transport. One goroutine may read while others write;
// control transfers are serialised.
type USB struct {
	uctx *gousb.Context
	dev  *gousb.Device
	cfg  *gousb.Config
	ctrl *gousb.Interface
	data *gousb.Interface
	intr *gousb.InEndpoint
	desc Descriptors
	sel  Selector
	max  int

	cmu sync.Mutex // one control transfer at a time; guards dev.ControlTimeout

	// Responses travel from the loop to ReadControl through ready; the
	// buffers come back on free, so the steady state allocates nothing.
	ready  chan []byte
	free   chan []byte
	rmu    sync.Mutex
	cur    []byte // unread rest of the current response
	curBuf []byte // the buffer cur lies in

	notes chan Notification

	loopCtx    context.Context
	loopCancel context.CancelFunc
	loopDone   chan struct{}
	dead       chan struct{} // closed when the loop failed; deadErr says why
	deadErr    error

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ mbim.Transport = (*USB)(nil)

// OpenUSB opens the MBIM function of the USB device named by selector,
// "usb:VID:PID" or "usb:BUS.ADDR" (see ParseSelector). It reads the raw
// configuration descriptors with GET_DESCRIPTOR to find the MBIM
// interfaces and wMaxControlMessage, detaches the kernel driver, claims the
// control interface and the data interface (alt 0: data off), and starts
// reading notifications. ctx bounds the set-up.
func OpenUSB(ctx context.Context, selector string) (u *USB, err error) {
	sel, err := ParseSelector(selector)
	if err != nil {
		return nil, err
	}
	uctx, err := newUSBContext()
	if err != nil {
		return nil, err
	}
	opening := &USB{uctx: uctx, sel: sel}
	defer func() {
		if err != nil {
			opening.release()
		}
	}()
	u = opening

	var matched []*gousb.DeviceDesc
	devs, openErr := uctx.OpenDevices(func(d *gousb.DeviceDesc) bool {
		if !sel.Match(uint16(d.Vendor), uint16(d.Product), d.Bus, d.Address) {
			return false
		}
		matched = append(matched, d)
		return hasMBIMInterface(d)
	})
	for _, d := range devs {
		if u.dev == nil {
			u.dev = d
		} else {
			d.Close()
		}
	}
	if u.dev == nil {
		switch {
		case openErr != nil:
			return nil, pkgerrors.WithStack(&multiError{
				msg:  fmt.Sprintf("usbtransport: open %s: %v", sel, openErr),
				errs: []error{usbErrorSentinel(openErr), openErr},
			})
		case len(matched) > 0:
			return nil, fmt.Errorf("usbtransport: %s (%s:%s) has no MBIM interface (class 02/0e/00): %w", sel, matched[0].Vendor, matched[0].Product, ErrNoMBIMFunction)
		}
		return nil, fmt.Errorf("usbtransport: no USB device matches %s: %w", sel, ErrNotFound)
	}
	if err := u.dev.SetAutoDetach(true); err != nil {
		return nil, u.usbError("set auto-detach", err)
	}
	if u.desc, err = u.readDescriptors(ctx); err != nil {
		return nil, err
	}
	u.max = u.desc.MaxControlTransfer()

	if u.cfg, err = u.dev.Config(u.desc.ConfigValue); err != nil {
		return nil, u.usbError(fmt.Sprintf("select configuration %d", u.desc.ConfigValue), err)
	}
	indexInterfacesByNumber(u.cfg)
	if u.ctrl, err = u.cfg.Interface(u.desc.ControlInterface, u.desc.ControlAlt); err != nil {
		return nil, u.usbError(fmt.Sprintf("claim control interface %d", u.desc.ControlInterface), err)
	}
	dataAlt := 0
	if !hasAlt(u.cfg.Desc, u.desc.DataInterface, 0) {
		dataAlt = u.desc.DataAlt
	}
	if u.data, err = u.cfg.Interface(u.desc.DataInterface, dataAlt); err != nil {
		return nil, u.usbError(fmt.Sprintf("claim data interface %d", u.desc.DataInterface), err)
	}
	if u.intr, err = u.ctrl.InEndpoint(u.desc.Interrupt.Number()); err != nil {
		return nil, u.usbError("open the interrupt endpoint", err)
	}

	u.ready = make(chan []byte, 2)
	u.free = make(chan []byte, 2)
	for range 2 {
		u.free <- make([]byte, u.max)
	}
	u.notes = make(chan Notification, 16)
	u.closed = make(chan struct{})
	u.dead = make(chan struct{})
	u.loopDone = make(chan struct{})
	u.loopCtx, u.loopCancel = context.WithCancel(context.Background())
	go u.loop()
	return u, nil
}

// newUSBContext starts libusb. gousb panics when libusb_init fails (no
// usbfs, say); that becomes an error here.
func newUSBContext() (c *gousb.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = pkgerrors.WithStack(fmt.Errorf("usbtransport: cannot start libusb: %v", r))
		}
	}()
	return gousb.NewContext(), nil
}

func hasMBIMInterface(d *gousb.DeviceDesc) bool {
	for _, c := range d.Configs {
		for _, i := range c.Interfaces {
			for _, a := range i.AltSettings {
				if a.Class == ClassComm && a.SubClass == SubclassMBIM && a.Protocol == ProtocolMBIM {
					return true
				}
			}
		}
	}
	return false
}

// indexInterfacesByNumber works around gousb v1.1.3's Config.Interface,
// which finds the interface by number but then reads
// Desc.Interfaces[number] to decide whether to select the alternate
// setting: with interface numbers that are not 0..n-1 (the EM7455's MBIM
// function is on 12 and 13, in a configuration of two interfaces) it
// indexes the wrong interface or panics. Laying the slice out so that
// index == bInterfaceNumber (holes get Number -1, no settings) makes both
// lookups agree.
func indexInterfacesByNumber(cfg *gousb.Config) {
	ifs := cfg.Desc.Interfaces
	n := 0
	for _, i := range ifs {
		if i.Number+1 > n {
			n = i.Number + 1
		}
	}
	out := make([]gousb.InterfaceDesc, n)
	for i := range out {
		out[i].Number = -1
	}
	for _, i := range ifs {
		if i.Number >= 0 {
			out[i.Number] = i
		}
	}
	cfg.Desc.Interfaces = out
}

func hasAlt(c gousb.ConfigDesc, intf, alt int) bool {
	for _, i := range c.Interfaces {
		if i.Number != intf {
			continue
		}
		for _, a := range i.AltSettings {
			if a.Alternate == alt {
				return true
			}
		}
	}
	return false
}

// readDescriptors fetches every configuration descriptor with a standard
// GET_DESCRIPTOR request (9 bytes for wTotalLength, then all of it) and
// returns the MBIM function, preferring the active configuration.
func (u *USB) readDescriptors(ctx context.Context) (Descriptors, error) {
	active, err := u.dev.ActiveConfigNum()
	if err != nil {
		return Descriptors{}, u.usbError("read the active configuration", err)
	}
	var first *Descriptors
	var firstErr error
	for idx := range len(u.dev.Desc.Configs) {
		raw, err := u.configDescriptor(ctx, idx)
		if err != nil {
			return Descriptors{}, err
		}
		d, err := ParseConfigDescriptors(raw)
		if err != nil {
			if firstErr == nil && !errors.Is(err, ErrNoMBIMFunction) {
				firstErr = err
			}
			continue
		}
		d.ConfigIndex = idx
		d.VendorID, d.ProductID = uint16(u.dev.Desc.Vendor), uint16(u.dev.Desc.Product)
		if d.ConfigValue == active {
			return d, nil
		}
		if first == nil {
			first = &d
		}
	}
	if first != nil {
		return *first, nil
	}
	if firstErr != nil {
		return Descriptors{}, fmt.Errorf("usbtransport: %s: %w", u.sel, firstErr)
	}
	return Descriptors{}, fmt.Errorf("usbtransport: %s: the configuration descriptors hold no MBIM function: %w", u.sel, ErrNoMBIMFunction)
}

func (u *USB) configDescriptor(ctx context.Context, idx int) ([]byte, error) {
	head := make([]byte, 9)
	wValue := uint16(descConfig)<<8 | uint16(idx)
	n, err := u.control(ctx, reqTypeStandardIn, reqGetDescriptor, wValue, 0, head)
	if err != nil {
		return nil, u.usbError(fmt.Sprintf("GET_DESCRIPTOR(configuration %d)", idx), err)
	}
	if n < 9 || head[1] != descConfig {
		return nil, malformed(0, "GET_DESCRIPTOR(configuration %d) returned %d bytes of type 0x%02x", idx, n, head[1])
	}
	total := int(binary.LittleEndian.Uint16(head[2:]))
	if total < 9 {
		return nil, malformed(0, "configuration %d wTotalLength %d is below 9", idx, total)
	}
	raw := make([]byte, total)
	if n, err = u.control(ctx, reqTypeStandardIn, reqGetDescriptor, wValue, 0, raw); err != nil {
		return nil, u.usbError(fmt.Sprintf("GET_DESCRIPTOR(configuration %d, %d bytes)", idx, total), err)
	}
	return raw[:n], nil
}

// control performs one control transfer, bounded by ctx's deadline (or
// defaultControlTimeout) through Device.ControlTimeout.
func (u *USB) control(ctx context.Context, rType, req uint8, val, idx uint16, data []byte) (int, error) {
	u.cmu.Lock()
	defer u.cmu.Unlock()
	select {
	case <-u.closed: // nil during OpenUSB
		return 0, mbim.ErrClosed
	default:
	}
	timeout := defaultControlTimeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < timeout {
			timeout = d
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if timeout < time.Millisecond {
		return 0, context.DeadlineExceeded
	}
	u.dev.ControlTimeout = timeout
	n, err := u.dev.Control(rType, req, val, idx, data)
	if err != nil && ctx.Err() != nil && errors.Is(err, gousb.ErrorTimeout) {
		return n, ctx.Err()
	}
	return n, err
}

// loop reads the interrupt endpoint until Close.
func (u *USB) loop() {
	defer close(u.loopDone)
	defer close(u.notes)
	size := u.desc.Interrupt.MaxPacketSize
	if size < 16 {
		size = 16
	}
	buf := make([]byte, size)
	var nr notificationReader
	for {
		n, err := u.intr.ReadContext(u.loopCtx, buf)
		if u.loopCtx.Err() != nil {
			return
		}
		if err != nil {
			u.fail(u.usbError("read the interrupt endpoint", err))
			return
		}
		var fetchErr error
		// A malformed notification is dropped; the next one resynchronises.
		_ = nr.feed(buf[:n], func(note Notification) {
			if fetchErr != nil {
				return
			}
			if note.Type == ResponseAvailable {
				fetchErr = u.fetchResponses()
				return
			}
			u.publish(note)
		})
		if fetchErr != nil {
			if u.loopCtx.Err() == nil {
				u.fail(fetchErr)
			}
			return
		}
	}
}

// fetchResponses issues GET_ENCAPSULATED_RESPONSE until the function has
// nothing more (0 bytes, or a STALL, which the kernel treats the same).
func (u *USB) fetchResponses() error {
	for {
		var buf []byte
		select {
		case buf = <-u.free:
		case <-u.loopCtx.Done():
			return u.loopCtx.Err()
		}
		n, err := u.control(u.loopCtx, reqTypeClassIn, reqGetEncapsulatedResponse, 0, uint16(u.desc.ControlInterface), buf[:u.max])
		if err != nil || n == 0 {
			u.free <- buf
			if err == nil || errors.Is(err, gousb.ErrorPipe) {
				return nil
			}
			return u.usbError("GET_ENCAPSULATED_RESPONSE", err)
		}
		select {
		case u.ready <- buf[:n]:
		case <-u.loopCtx.Done():
			return u.loopCtx.Err()
		}
	}
}

// publish hands a notification to Notifications; when nobody keeps up the
// oldest is dropped, since each one reports a state.
func (u *USB) publish(n Notification) {
	for {
		select {
		case u.notes <- n:
			return
		default:
		}
		select {
		case <-u.notes:
		default:
		}
	}
}

func (u *USB) fail(err error) {
	u.deadErr = err
	close(u.dead)
}

// ReadControl implements mbim.Transport: it returns the next response, or
// the unread rest of the current one when p was too small for it.
func (u *USB) ReadControl(ctx context.Context, p []byte) (int, error) {
	if n, ok := u.readCurrent(p); ok {
		return n, nil
	}
	select {
	case <-u.closed:
		return 0, mbim.ErrClosed
	default:
	}
	var b []byte
	select {
	case b = <-u.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-u.closed:
		return 0, mbim.ErrClosed
	case <-u.dead:
		select {
		case b = <-u.ready: // responses fetched before the failure come first
		default:
			return 0, u.deadErr
		}
	}
	u.rmu.Lock()
	u.cur, u.curBuf = b, b[:cap(b)]
	u.rmu.Unlock()
	n, _ := u.readCurrent(p)
	return n, nil
}

func (u *USB) readCurrent(p []byte) (int, bool) {
	u.rmu.Lock()
	defer u.rmu.Unlock()
	if u.cur == nil {
		return 0, false
	}
	n := copy(p, u.cur)
	u.cur = u.cur[n:]
	if len(u.cur) == 0 {
		u.free <- u.curBuf
		u.cur, u.curBuf = nil, nil
	}
	return n, true
}

// WriteControl implements mbim.Transport: one SEND_ENCAPSULATED_COMMAND
// carrying p. Messages above MaxControlTransfer are refused
// (mbim.ErrTooLarge); ctx's deadline bounds the transfer.
func (u *USB) WriteControl(ctx context.Context, p []byte) error {
	if len(p) > u.max {
		return fmt.Errorf("usbtransport: %d-byte control message exceeds %s's wMaxControlMessage of %d bytes: %w", len(p), u.sel, u.max, mbim.ErrTooLarge)
	}
	select {
	case <-u.closed:
		return mbim.ErrClosed
	default:
	}
	n, err := u.control(ctx, reqTypeClassOut, reqSendEncapsulatedCommand, 0, uint16(u.desc.ControlInterface), p)
	if err != nil {
		if (ctx.Err() != nil && errors.Is(err, ctx.Err())) || err == mbim.ErrClosed {
			return err
		}
		return u.usbError("SEND_ENCAPSULATED_COMMAND", err)
	}
	if n != len(p) {
		return pkgerrors.WithStack(fmt.Errorf("usbtransport: SEND_ENCAPSULATED_COMMAND to %s: short write, the device took %d of %d bytes", u.sel, n, len(p)))
	}
	return nil
}

// MaxControlTransfer implements mbim.Transport: the MBIM functional
// descriptor's wMaxControlMessage.
func (u *USB) MaxControlTransfer() int { return u.max }

// Descriptors returns what the USB descriptors say about the function.
func (u *USB) Descriptors() Descriptors { return u.desc }

// Notifications delivers NETWORK_CONNECTION and CONNECTION_SPEED_CHANGE
// (and any other notification but RESPONSE_AVAILABLE). When the receiver
// falls behind, the oldest are dropped. The channel is closed when the
// transport is closed or the device goes away.
func (u *USB) Notifications() <-chan Notification { return u.notes }

// Reset sends RESET_FUNCTION (mbim-reference.md §7.3): the function returns
// to its initial, MBIM-closed state, so the caller must OPEN again. Any
// response not yet read is discarded.
func (u *USB) Reset(ctx context.Context) error {
	select {
	case <-u.closed:
		return mbim.ErrClosed
	default:
	}
	if _, err := u.control(ctx, reqTypeClassOut, reqResetFunction, 0, uint16(u.desc.ControlInterface), nil); err != nil {
		if (ctx.Err() != nil && errors.Is(err, ctx.Err())) || err == mbim.ErrClosed {
			return err
		}
		return u.usbError("RESET_FUNCTION", err)
	}
	u.rmu.Lock()
	if u.cur != nil {
		u.free <- u.curBuf
		u.cur, u.curBuf = nil, nil
	}
	u.rmu.Unlock()
	for {
		select {
		case b := <-u.ready:
			u.free <- b[:cap(b)]
		default:
			return nil
		}
	}
}

// Close implements mbim.Transport: it stops the notification loop,
// releases the interfaces (re-attaching the kernel driver) and closes the
// device. A blocked ReadControl returns mbim.ErrClosed.
func (u *USB) Close() error {
	u.closeOnce.Do(func() {
		close(u.closed)
		u.loopCancel()
		<-u.loopDone
		u.closeErr = u.release()
	})
	return u.closeErr
}

// release undoes OpenUSB's steps that succeeded.
func (u *USB) release() error {
	var errs []error
	u.cmu.Lock()
	defer u.cmu.Unlock()
	if u.data != nil {
		u.data.Close()
	}
	if u.ctrl != nil {
		u.ctrl.Close()
	}
	if u.cfg != nil {
		if err := u.cfg.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if u.dev != nil {
		if err := u.dev.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if u.uctx != nil {
		if err := u.uctx.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return pkgerrors.WithStack(err)
	}
	return nil
}

// usbError wraps a libusb failure once, naming the step and the device,
// and maps the conditions callers branch on.
func (u *USB) usbError(step string, err error) error {
	msg := fmt.Sprintf("usbtransport: %s: %s: %v", u.sel, step, err)
	switch {
	case errors.Is(err, gousb.ErrorNoDevice), errors.Is(err, gousb.TransferNoDevice):
		return pkgerrors.WithStack(&multiError{msg: msg + " (the device went away)", errs: []error{io.EOF, err}})
	case errors.Is(err, gousb.ErrorBusy):
		return pkgerrors.WithStack(&multiError{msg: msg + " (an interface is held by another program: use --proxy, or stop it)", errs: []error{ErrBusy, err}})
	case errors.Is(err, gousb.ErrorAccess):
		return pkgerrors.WithStack(&multiError{msg: msg + " (permission denied: run as root, or give the user access to the device with a udev rule)", errs: []error{err}})
	}
	return pkgerrors.WithStack(&multiError{msg: msg, errs: []error{err}})
}

func usbErrorSentinel(err error) error {
	switch {
	case errors.Is(err, gousb.ErrorNoDevice), errors.Is(err, gousb.ErrorNotFound):
		return ErrNotFound
	case errors.Is(err, gousb.ErrorBusy):
		return ErrBusy
	}
	return err
}
