package mbim

// Indications: subscribers on the host side, and the function's
// DEVICE_SERVICE_SUBSCRIBE_LIST.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Indication is one INDICATE_STATUS (reassembled when it came in
// fragments). It owns a copy of the message, shared read-only by every
// subscriber that receives it.
type Indication struct {
	msg Message
	ver Version
}

// Message returns the whole INDICATE_STATUS.
func (i Indication) Message() Message { return i.msg }

// Service returns the service UUID.
func (i Indication) Service() UUID { return i.msg.Service() }

// CID returns the command id.
func (i Indication) CID() uint32 { return i.msg.CID() }

// InformationBuffer returns the notification's information buffer.
func (i Indication) InformationBuffer() []byte { return i.msg.InformationBuffer() }

// Version returns the MBIMEx version negotiated when the indication
// arrived, which Decode uses.
func (i Indication) Version() Version { return i.ver }

// Decode decodes the information buffer with the notification layout of
// its service and CID at Version. An unknown service or CID gives an error
// wrapping ErrNoLayout; the raw buffer stays available.
func (i Indication) Decode() (Body, error) {
	b, _, err := NewBody(i.Service(), i.CID(), KindNotification, i.ver)
	if err != nil {
		return nil, fmt.Errorf("mbim: %s notification: %w", requestName(TypeCommand, i.Service(), i.CID()), err)
	}
	if err := b.Decode(i.InformationBuffer()); err != nil {
		return nil, fmt.Errorf("mbim: %s notification: %w", requestName(TypeCommand, i.Service(), i.CID()), err)
	}
	return b, nil
}

// DecodeInto decodes into b, a reused value, after checking that it is the
// notification layout at Version (a *LayoutError otherwise).
func (i Indication) DecodeInto(b Body) error {
	if err := checkLayout(i.Service(), i.CID(), KindNotification, i.ver, b, false); err != nil {
		return err
	}
	if err := b.Decode(i.InformationBuffer()); err != nil {
		return fmt.Errorf("mbim: %s notification: %w", requestName(TypeCommand, i.Service(), i.CID()), err)
	}
	return nil
}

// SubscribeFilter selects indications: of Service (the zero UUID: of every
// service) and, when CIDs is not empty, only of those CIDs.
type SubscribeFilter struct {
	Service UUID
	CIDs    []uint32
}

func (f *SubscribeFilter) match(service UUID, cid uint32) bool {
	if f.Service != (UUID{}) && f.Service != service {
		return false
	}
	return len(f.CIDs) == 0 || slices.Contains(f.CIDs, cid)
}

// Subscription receives the indications its filter selects, through a
// bounded queue: when the queue is full the indication is dropped for this
// subscriber and counted, so a slow subscriber never blocks the reader.
type Subscription struct {
	filter  SubscribeFilter
	ch      chan Indication
	dropped atomic.Uint64

	mu     sync.Mutex
	d      *Device
	closed bool
}

// NewSubscription returns a Subscription not yet attached to a Device;
// attach it with WithSubscription so that it receives indications that
// arrive during Open. queue <= 0 means DefaultQueueSize.
func NewSubscription(filter SubscribeFilter, queue int) *Subscription {
	if queue <= 0 {
		queue = DefaultQueueSize
	}
	filter.CIDs = slices.Clone(filter.CIDs)
	return &Subscription{filter: filter, ch: make(chan Indication, queue)}
}

// Subscribe returns a Subscription to the indications filter selects, with
// a queue of queue indications (0: WithQueueSize's). Subscribing on the
// host side does not change what the function sends: see
// SetDeviceSubscriptions. On a closed Device the Subscription's channel is
// closed at once.
func (d *Device) Subscribe(filter SubscribeFilter, queue int) *Subscription {
	if queue <= 0 {
		queue = d.o.queueSize
	}
	s := NewSubscription(filter, queue)
	if err := d.attach(s); err != nil {
		s.Close()
	}
	return s
}

// C returns the channel of indications. It is closed by Close, and when the
// Device stops.
func (s *Subscription) C() <-chan Indication { return s.ch }

// Dropped returns how many indications were dropped because the queue was
// full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close detaches the Subscription and closes its channel. It is
// idempotent.
func (s *Subscription) Close() {
	s.mu.Lock()
	d := s.d
	s.mu.Unlock()
	if d != nil {
		d.smu.Lock()
		d.subs = slices.DeleteFunc(d.subs, func(x *Subscription) bool { return x == s })
		d.smu.Unlock()
	}
	// The reader sends under d.smu, and s is no longer listed: closing
	// cannot race with a send.
	s.closeChan()
}

func (s *Subscription) closeChan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

var errAttached = errors.New("mbim: subscription already attached or closed")

func (d *Device) attach(s *Subscription) error {
	s.mu.Lock()
	if s.d != nil || s.closed {
		s.mu.Unlock()
		return errAttached
	}
	s.d = d
	s.mu.Unlock()
	d.smu.Lock()
	defer d.smu.Unlock()
	if d.subsClosed {
		return ErrClosed
	}
	d.subs = append(d.subs, s)
	return nil
}

func (d *Device) closeSubscriptions() {
	d.smu.Lock()
	subs := d.subs
	d.subs, d.subsClosed = nil, true
	d.smu.Unlock()
	for _, s := range subs {
		s.closeChan()
	}
}

// indicate gives an INDICATE_STATUS to every matching subscriber without
// blocking. The copy is made once, and only when someone wants it.
func (d *Device) indicate(m Message) {
	svc, cid := m.Service(), m.CID()
	d.st.countIndication(svc, cid)
	var ind Indication
	have := false
	d.smu.Lock()
	for _, s := range d.subs {
		if !s.filter.match(svc, cid) {
			continue
		}
		if !have {
			ind = Indication{msg: Message{b: cloneBytes(m.Bytes())}, ver: d.Version()}
			have = true
		}
		select {
		case s.ch <- ind:
		default:
			s.dropped.Add(1)
			d.st.droppedIndications.Add(1)
		}
	}
	d.smu.Unlock()
}

func cloneBytes(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }

// DefaultDeviceSubscriptions is the subscribe list a packet-data handoff
// daemon needs (reference §10): Basic Connect SUBSCRIBER_READY_STATUS,
// RADIO_STATE, REGISTER_STATE, PACKET_SERVICE, SIGNAL_STATE, CONNECT and
// IP_CONFIGURATION. Add vendor or MS extension CIDs to it as needed; the
// function must be told of every service whose indications are wanted.
func DefaultDeviceSubscriptions() []EventEntry {
	return []EventEntry{{
		DeviceServiceId: ServiceBasicConnect,
		Cids: []uint32{
			CIDSubscriberReadyStatus, CIDRadioState, CIDRegisterState, CIDPacketService,
			CIDSignalState, CIDConnect, CIDIpConfiguration,
		},
	}}
}

// SetDeviceSubscriptions sends DEVICE_SERVICE_SUBSCRIBE_LIST with the full
// list (it replaces the function's previous one) and remembers it, so that
// a re-open after NOT_OPENED sends it again.
func (d *Device) SetDeviceSubscriptions(ctx context.Context, entries ...EventEntry) error {
	list := cloneEvents(entries)
	if err := d.sendSubscribeList(ctx, list, !d.o.noRecovery); err != nil {
		return err
	}
	d.mu.Lock()
	d.subList, d.subListSet = list, true
	d.mu.Unlock()
	return nil
}

// DeviceSubscriptions returns the subscribe list last sent (nil when none
// was).
func (d *Device) DeviceSubscriptions() []EventEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.subListSet {
		return nil
	}
	return cloneEvents(d.subList)
}

func (d *Device) sendSubscribeList(ctx context.Context, list []EventEntry, recoverable bool) error {
	ctx, cancel := withDefaultTimeout(ctx, d.o.timeout)
	defer cancel()
	req := &DeviceServiceSubscribeListInfo{Events: list}
	_, err := d.command(ctx, ServiceBasicConnect, CIDDeviceServiceSubscribeList, CommandSet, req, recoverable)
	return err
}

func cloneEvents(in []EventEntry) []EventEntry {
	out := make([]EventEntry, len(in))
	for i, e := range in {
		out[i] = EventEntry{DeviceServiceId: e.DeviceServiceId, CidsCount: uint32(len(e.Cids)), Cids: slices.Clone(e.Cids)}
	}
	return out
}
