package mbimtest

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

func TestFaultDelay(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	id := s.AddFault(DelayResponses(60 * time.Millisecond))
	start := time.Now()
	h.sync()
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	if s.FaultActed(id) != 1 || s.Counters().Delayed != 1 {
		t.Fatalf("acted %d", s.FaultActed(id))
	}
	s.RemoveFault(id)
	// From the host: the function is busy; later requests queue behind.
	s.AddFault(Fault{Match: Match{Dir: FromHost, Type: mbim.TypeCommand, Times: 1}, Delay: 50 * time.Millisecond})
	start = time.Now()
	h.sync()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
}

func TestFaultDropAndDuplicate(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	s.AddFault(DropResponse(mbim.ServiceBasicConnect, mbim.CIDRadioState))
	tid := h.nextTID()
	b, _ := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDRadioState, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	if _, err := h.next(50 * time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("dropped response arrived: %v", err)
	}
	// Times: 1 retired the fault.
	h.query(mbim.CIDRadioState, nil, nil)

	s.AddFault(DuplicateResponses())
	tid = h.nextTID()
	b, _ = mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDRadioState, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	a, c := h.mustNext(), h.mustNext()
	if a.TransactionID() != tid || c.TransactionID() != tid || string(a.Bytes()) != string(c.Bytes()) {
		t.Fatalf("duplicate: %v / %v", a.TransactionID(), c.TransactionID())
	}
	s.ClearFaults()

	// A duplicated request is processed twice: a second CONNECT on an
	// active session succeeds again, a second disconnect is refused.
	s.AddFault(Fault{Match: Match{Dir: FromHost, Type: mbim.TypeCommand, CID: mbim.CIDConnect, Times: 1}, Duplicate: 1})
	tid = h.nextTID()
	b, _ = mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet")})
	h.send(b)
	if a, c := h.reply(tid), h.reply(tid); a.Status() != mbim.StatusSuccess || c.Status() != mbim.StatusSuccess {
		t.Fatalf("duplicated CONNECT: %v %v", a.Status(), c.Status())
	}
	// A dropped request is never answered.
	s.AddFault(Fault{Match: Match{Dir: FromHost, Type: mbim.TypeCommand, Times: 1}, Drop: true})
	tid = h.nextTID()
	b, _ = mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	if _, err := h.next(50 * time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("dropped request answered: %v", err)
	}
	h.sync()
}

func TestFaultFragmentAndReorder(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	id := s.AddFault(FragmentResponses(40))
	var caps mbim.DeviceCapsInfo
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	if caps.FirmwareInfo.String() != DefaultDevice().Firmware {
		t.Fatalf("caps %+v", caps)
	}
	if s.Counters().FragmentsOut < 5 {
		t.Fatalf("fragments %d", s.Counters().FragmentsOut)
	}
	s.RemoveFault(id)

	// Fragment size is capped at the host's MaxControlTransfer.
	h.open(64)
	s.AddFault(FragmentResponses(1000))
	before := s.Counters().FragmentsOut
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	if s.Counters().FragmentsOut == before {
		t.Fatal("not fragmented at the host's limit")
	}
	s.ClearFaults()

	// Reordered fragments: the host's reassembler refuses them.
	h.open(4096)
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, Times: 1}, FragmentSize: 40, ReorderFragments: true})
	tid := h.nextTID()
	b, _ := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	if _, err := h.next(100 * time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("reordered message reassembled: %v", err)
	}
	var fe *mbim.FragmentError
	if len(h.fragErr) == 0 || !errors.As(h.fragErr[0], &fe) || fe.Code != mbim.ProtocolErrorFragmentOutOfSequence {
		t.Fatalf("reassembly errors %v", h.fragErr)
	}
}

func TestFaultFunctionError(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	s.AddFault(FunctionErrorFor(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.ProtocolErrorUnknown))
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet")})
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorUnknown || m.TransactionID() != h.tid {
		t.Fatalf("got %v %v", m.Type(), m.ErrorCode())
	}
	if ss, _ := s.Session(0); ss.State == mbim.ActivationStateActivated {
		t.Fatal("the refused CONNECT took effect")
	}
	s.ClearFaults()
	// To the host: the response is replaced, the request took effect.
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, CID: mbim.CIDConnect}, FunctionError: mbim.ProtocolErrorUnknown})
	m = h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet")})
	if m.Type() != mbim.TypeFunctionError {
		t.Fatalf("got %v", m.Type())
	}
	if ss, _ := s.Session(0); ss.State != mbim.ActivationStateActivated {
		t.Fatal("the CONNECT did not take effect")
	}
}

func TestFaultCorrupt(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	// Corrupt the message type of one response: the host's framer
	// drops it as garbage.
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, Times: 1}, Corrupt: []int{3}})
	tid := h.nextTID()
	b, _ := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	if _, err := h.next(50 * time.Millisecond); !errors.Is(err, errTimeout) || h.garbage != 1 {
		t.Fatalf("corrupted response: %v, garbage %d", err, h.garbage)
	}
	// Mutate: flip the status of the next response.
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, Times: 1}, Mutate: func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[40:], uint32(mbim.StatusBusy))
		return b
	}})
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil); m.Status() != mbim.StatusBusy {
		t.Fatalf("mutated status %v", m.Status())
	}
	// From the host: a corrupted request (its CID) is answered as that.
	s.AddFault(Fault{Match: Match{Dir: FromHost, Type: mbim.TypeCommand, Times: 1}, Corrupt: []int{36}})
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil); m.Status() != mbim.StatusNoDeviceSupport {
		t.Fatalf("corrupted request: %v", m.Status())
	}
	if s.Counters().Corrupted != 3 {
		t.Fatalf("corrupted %d", s.Counters().Corrupted)
	}
}

// TestFaultShortLengths sends what the four libmbim vectors marked
// length_fields_inconsistent show real modems sending: MessageLength and
// InformationBufferLength too short, with all the bytes still there.
func TestFaultShortLengths(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, CID: mbim.CIDSubscriberReadyStatus, Times: 1}, ShortenLength: 32})
	tid := h.nextTID()
	b, _ := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	// Read the raw bytes: one message claiming 32 bytes less than sent.
	var raw []byte
	for len(raw) < 48 || len(raw) < int(binary.LittleEndian.Uint32(raw[4:]))+32 {
		n, err := h.tr.ReadControl(t.Context(), h.chunk)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, h.chunk[:n]...)
	}
	ml, ibl := binary.LittleEndian.Uint32(raw[4:]), binary.LittleEndian.Uint32(raw[44:])
	if int(ml)+32 != len(raw) || ibl+48 != ml {
		t.Fatalf("MessageLength %d, InformationBufferLength %d, %d bytes", ml, ibl, len(raw))
	}
	// What a codec honouring the declared lengths makes of it: the
	// message parses, its body is truncated, the tail is garbage.
	m, n, err := mbim.NextMessage(raw)
	if err != nil || n != int(ml) {
		t.Fatalf("NextMessage: %v", err)
	}
	var rs mbim.SubscriberReadyStatusInfo
	if err := rs.Decode(m.InformationBuffer()); !errors.Is(err, mbim.ErrTruncated) {
		t.Fatalf("decode of the short message: %v", err)
	}
	// With Truncate the bytes go too: a consistent but short message.
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, Times: 1}, ShortenLength: 8, Truncate: true})
	m = h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	var caps mbim.DeviceCapsInfo
	if err := caps.Decode(m.InformationBuffer()); err == nil {
		t.Fatal("truncated DEVICE_CAPS decoded")
	}
}

func TestFaultIndicationsBeforeOpenDone(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	s.AddFault(IndicationsBeforeOpenDone())
	tid := h.nextTID()
	h.send(mbim.AppendOpen(nil, tid, 4096))
	var got []string
	for {
		m := h.mustNext()
		if m.Type() == mbim.TypeOpenDone {
			break
		}
		got = append(got, mbim.CIDName(m.Service(), m.CID()))
	}
	want := []string{"SUBSCRIBER_READY_STATUS", "RADIO_STATE", "REGISTER_STATE", "PACKET_SERVICE", "SIGNAL_STATE"}
	if !slices.Equal(got, want) {
		t.Fatalf("before OPEN_DONE: %v", got)
	}
}

func TestFaultMatchAfterAndTimes(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	id := s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, After: 2, Times: 2}, FunctionError: mbim.ProtocolErrorUnknown})
	var types []mbim.MessageType
	for range 6 {
		types = append(types, h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil).Type())
	}
	d, f := mbim.TypeCommandDone, mbim.TypeFunctionError
	if !slices.Equal(types, []mbim.MessageType{d, d, f, f, d, d}) {
		t.Fatalf("types %v", types)
	}
	if s.RemoveFault(id) {
		t.Fatal("retired fault still there")
	}
}
