package mbimtest

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

func TestHandleOverridesAndExtends(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)

	// Override: a modem that reports another firmware.
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, func(req mbim.Message) ([][]byte, error) {
		return Reply(req, mbim.StatusSuccess, &mbim.DeviceCapsInfo{FirmwareInfo: mbim.NewString("OTHER"), MaxSessions: 1})
	})
	var caps mbim.DeviceCapsInfo
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	if caps.FirmwareInfo.String() != "OTHER" {
		t.Fatalf("override: %+v", caps)
	}
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, nil)
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	if caps.FirmwareInfo.String() != DefaultDevice().Firmware {
		t.Fatalf("after removal: %+v", caps)
	}

	// Extend: look, change the model, let it answer.
	seen := 0
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDRegisterState, func(req mbim.Message) ([][]byte, error) {
		seen++
		if err := s.SetRegisterState(mbim.RegisterStateRoaming, 0); err != nil {
			return nil, err
		}
		return nil, ErrUnhandled
	})
	var reg mbim.RegisterStateInfo
	h.query(mbim.CIDRegisterState, nil, &reg)
	if seen != 1 || reg.RegisterState != mbim.RegisterStateRoaming {
		t.Fatalf("extend: seen %d, %v", seen, reg.RegisterState)
	}

	// Errors map to status and FUNCTION_ERROR.
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDSignalState, Status(mbim.StatusBusy))
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDSignalState, mbim.CommandQuery, nil); m.Status() != mbim.StatusBusy {
		t.Fatalf("status: %v", m.Status())
	}
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDSignalState, func(mbim.Message) ([][]byte, error) { return nil, mbim.ProtocolErrorCancel })
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDSignalState, mbim.CommandQuery, nil); m.ErrorCode() != mbim.ProtocolErrorCancel {
		t.Fatalf("protocol error: %v %v", m.Type(), m.ErrorCode())
	}
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDSignalState, func(mbim.Message) ([][]byte, error) { return nil, errors.New("boom") })
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDSignalState, mbim.CommandQuery, nil); m.Status() != mbim.StatusFailure {
		t.Fatalf("other error: %v", m.Status())
	}
	// Swallowed: nothing comes back.
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDSignalState, func(mbim.Message) ([][]byte, error) { return nil, nil })
	tid := h.nextTID()
	b, _ := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDSignalState, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	if _, err := h.next(30 * time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("swallowed request answered: %v", err)
	}

	// A new service and CID: answered, and listed in DEVICE_SERVICES.
	vendor := mbim.MustParseUUID("11111111-2222-3333-4444-555555555555")
	s.Handle(vendor, 7, Respond(&mbim.NetworkIdleHintInfo{State: 1}))
	m := h.ok(vendor, 7, mbim.CommandQuery, nil, nil)
	if v := binary.LittleEndian.Uint32(m.InformationBuffer()); v != 1 {
		t.Fatalf("vendor CID: %x", m.InformationBuffer())
	}
	var ds mbim.DeviceServicesInfo
	h.query(mbim.CIDDeviceServices, nil, &ds)
	i := slices.IndexFunc(ds.DeviceServices, func(e mbim.DeviceServiceElement) bool { return e.DeviceServiceId == vendor })
	if i < 0 || !slices.Equal(ds.DeviceServices[i].Cids, []uint32{7}) {
		t.Fatalf("vendor service not listed: %+v", ds.DeviceServices)
	}

	// A catch-all sees what has no Func of its own.
	var caught []uint32
	s.Handle(mbim.UUID{}, 0, func(req mbim.Message) ([][]byte, error) {
		caught = append(caught, req.CID())
		return nil, ErrUnhandled
	})
	h.query(mbim.CIDRadioState, nil, nil)
	h.ok(vendor, 7, mbim.CommandQuery, nil, nil)
	if !slices.Equal(caught, []uint32{mbim.CIDRadioState}) {
		t.Fatalf("catch-all saw %v", caught)
	}
}

func TestCheckRequest(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	s.Handle(mbim.ServiceBasicConnect, mbim.CIDRadioState, s.CheckRequest(mbim.ServiceBasicConnect, mbim.CIDRadioState, mbim.CommandSet, nil))
	h.set(mbim.CIDRadioState, &mbim.RadioStateSet{RadioState: mbim.RadioSwitchStateOff}, nil)
	if len(s.Errors()) != 0 {
		t.Fatal(s.Errors())
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDRadioState, mbim.CommandQuery, nil); m.Status() != mbim.StatusFailure {
		t.Fatalf("mismatch answered %v", m.Status())
	}
	if errs := s.Errors(); len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
}

func TestIndicate(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	// Indicate sends even before OPEN (quirk Q13) and whatever the
	// subscriptions.
	if err := s.Indicate(mbim.ServiceQmi, mbim.CIDQmiMsg, &mbim.QmiMsgInfo{Qmux: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	m := h.mustNext()
	if m.Type() != mbim.TypeIndicateStatus || m.TransactionID() != 0 || m.Service() != mbim.ServiceQmi || string(m.InformationBuffer()) != "\x01\x02\x03" {
		t.Fatalf("got %v tid %d %x", m.Type(), m.TransactionID(), m.InformationBuffer())
	}
}

func TestWaitRequest(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	done := make(chan Request, 1)
	go func() {
		r, err := s.WaitRequest(context.Background(), func(r Request) bool { return r.Is(mbim.ServiceBasicConnect, mbim.CIDPacketService) })
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	h.open(4096)
	h.query(mbim.CIDDeviceCaps, nil, nil)
	h.set(mbim.CIDPacketService, &mbim.PacketServiceSet{PacketServiceAction: mbim.PacketServiceActionAttach}, nil)
	select {
	case r := <-done:
		if r.Seq != 3 || r.CommandType != mbim.CommandSet {
			t.Fatalf("got %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRequest did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.WaitRequest(ctx, func(r Request) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRequest: %v", err)
	}
}

// qmux builds a QMUX request frame.
func qmux(svc, client uint8, tid uint16, msg uint16, tlvs []byte) []byte {
	b := []byte{0x01, 0, 0, 0x00, svc, client}
	if svc == 0 {
		b = append(b, 0x00, byte(tid))
	} else {
		b = append(b, 0x00)
		b = binary.LittleEndian.AppendUint16(b, tid)
	}
	b = binary.LittleEndian.AppendUint16(b, msg)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tlvs)))
	b = append(b, tlvs...)
	binary.LittleEndian.PutUint16(b[1:], uint16(len(b)-1))
	return b
}

// qmiTLV finds a TLV in a QMUX response frame.
func qmiTLV(t *testing.T, frame []byte, typ uint8) []byte {
	t.Helper()
	off := 13
	if frame[4] == 0 {
		off = 12
	}
	v, ok := qmiTLVs(frame[off:])[typ]
	if !ok {
		t.Fatalf("no TLV 0x%02x in %x", typ, frame)
	}
	return v
}

func TestQMIOverMBIM(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	// libqmi subscribes to QMI indications first.
	h.set(mbim.CIDDeviceServiceSubscribeList, &mbim.DeviceServiceSubscribeListInfo{Events: []mbim.EventEntry{
		{DeviceServiceId: mbim.ServiceQmi, Cids: []uint32{1}},
	}}, nil)
	call := func(req []byte) []byte {
		t.Helper()
		var info mbim.QmiMsgInfo
		h.ok(mbim.ServiceQmi, mbim.CIDQmiMsg, mbim.CommandSet, &mbim.QmiMsgSet{QmiMsg: req}, &info)
		r := []byte(info.Qmux)
		if r[0] != 0x01 || int(binary.LittleEndian.Uint16(r[1:]))+1 != len(r) || r[3] != 0x80 {
			t.Fatalf("bad QMUX response %x", r)
		}
		return r
	}
	// CTL Allocate CID for DMS.
	r := call(qmux(0, 0, 1, 0x0022, []byte{0x01, 0x01, 0x00, 0x02}))
	if r[6] != 0x01 || r[7] != 1 || binary.LittleEndian.Uint16(r[8:]) != 0x0022 {
		t.Fatalf("CTL header %x", r[:12])
	}
	if res := qmiTLV(t, r, 0x02); binary.LittleEndian.Uint16(res) != 0 {
		t.Fatalf("allocate: result %x", res)
	}
	alloc := qmiTLV(t, r, 0x01)
	if alloc[0] != 0x02 || alloc[1] == 0 {
		t.Fatalf("allocate: %x", alloc)
	}
	cid := alloc[1]
	// DMS Get IDs on that client.
	r = call(qmux(2, cid, 7, 0x0025, nil))
	if r[5] != cid || r[6] != 0x02 || binary.LittleEndian.Uint16(r[7:]) != 7 || binary.LittleEndian.Uint16(r[9:]) != 0x0025 {
		t.Fatalf("DMS header %x", r[:13])
	}
	if imei := string(qmiTLV(t, r, 0x11)); imei != DefaultDevice().DeviceID {
		t.Fatalf("IMEI %q", imei)
	}
	if rev := string(qmiTLV(t, call(qmux(2, cid, 8, 0x0023, nil)), 0x01)); rev != DefaultDevice().Firmware {
		t.Fatalf("revision %q", rev)
	}
	// Unknown message: InvalidQmiCommand; unknown client: InvalidClientId.
	r = call(qmux(2, cid, 9, 0x5555, nil))
	if res := qmiTLV(t, r, 0x02); binary.LittleEndian.Uint16(res) != 1 || binary.LittleEndian.Uint16(res[2:]) != qmiErrInvalidQmiCommand {
		t.Fatalf("unknown message: %x", res)
	}
	r = call(qmux(2, cid+1, 10, 0x0025, nil))
	if res := qmiTLV(t, r, 0x02); binary.LittleEndian.Uint16(res[2:]) != qmiErrInvalidClientID {
		t.Fatalf("unknown client: %x", res)
	}
	// Release, twice.
	r = call(qmux(0, 0, 2, 0x0023, []byte{0x01, 0x02, 0x00, 0x02, cid}))
	if res := qmiTLV(t, r, 0x02); binary.LittleEndian.Uint16(res) != 0 {
		t.Fatalf("release: %x", res)
	}
	r = call(qmux(0, 0, 3, 0x0023, []byte{0x01, 0x02, 0x00, 0x02, cid}))
	if res := qmiTLV(t, r, 0x02); binary.LittleEndian.Uint16(res[2:]) != qmiErrInvalidClientID {
		t.Fatalf("second release: %x", res)
	}
	// Not QMUX at all.
	if m := h.call(mbim.ServiceQmi, mbim.CIDQmiMsg, mbim.CommandSet, &mbim.QmiMsgSet{QmiMsg: []byte{0xff}}); m.Status() != mbim.StatusInvalidParameters {
		t.Fatalf("garbage QMUX: %v", m.Status())
	}
}
