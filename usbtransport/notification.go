package usbtransport

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Class requests of the MBIM control interface (mbim-reference.md §7.3).
const (
	reqTypeClassOut = 0x21 // host to device, class, interface
	reqTypeClassIn  = 0xA1 // device to host, class, interface

	reqSendEncapsulatedCommand = 0x00
	reqGetEncapsulatedResponse = 0x01
	reqResetFunction           = 0x05

	reqTypeStandardIn = 0x80 // device to host, standard, device
	reqGetDescriptor  = 0x06
)

// NotificationType is bNotificationType of a CDC notification on the
// interrupt endpoint (mbim-reference.md §7.4).
type NotificationType uint8

// The notifications an MBIM function sends.
const (
	NetworkConnection     NotificationType = 0x00
	ResponseAvailable     NotificationType = 0x01
	ConnectionSpeedChange NotificationType = 0x2A
)

func (t NotificationType) String() string {
	switch t {
	case NetworkConnection:
		return "NETWORK_CONNECTION"
	case ResponseAvailable:
		return "RESPONSE_AVAILABLE"
	case ConnectionSpeedChange:
		return "CONNECTION_SPEED_CHANGE"
	}
	return fmt.Sprintf("NOTIFICATION_0x%02X", uint8(t))
}

// Notification is one decoded CDC notification.
type Notification struct {
	Type      NotificationType
	Value     uint16 // wValue
	Interface uint16 // wIndex: the control interface number
	// Connected is NETWORK_CONNECTION's wValue: true for 1 (connected).
	Connected bool
	// DownlinkBitRate and UplinkBitRate are CONNECTION_SPEED_CHANGE's
	// payload in bits per second (DLBitRate is device to host).
	DownlinkBitRate uint32
	UplinkBitRate   uint32
}

func (n Notification) String() string {
	switch n.Type {
	case NetworkConnection:
		return fmt.Sprintf("%s connected=%v", n.Type, n.Connected)
	case ConnectionSpeedChange:
		return fmt.Sprintf("%s downlink=%d uplink=%d", n.Type, n.DownlinkBitRate, n.UplinkBitRate)
	}
	return fmt.Sprintf("%s value=%d", n.Type, n.Value)
}

var (
	errNotificationIncomplete = errors.New("usbtransport: incomplete notification")
	errNotificationMalformed  = errors.New("usbtransport: malformed notification")
)

const notificationHeaderLen = 8

// maxNotificationData bounds the data a notification may carry; MBIM's
// largest is CONNECTION_SPEED_CHANGE's 8 bytes.
const maxNotificationData = 64

// ParseNotification decodes the notification at the start of b and
// returns it with the number of bytes it takes (8 + wLength). When b holds
// only part of it (a header whose data comes in the next interrupt
// transfer, as with the kernel's EVENT_STS_SPLIT), the error wraps
// errNotificationIncomplete; a header that is not a class notification
// (bmRequestType 0xA1) or a CONNECTION_SPEED_CHANGE shorter than 8 data
// bytes is malformed.
func ParseNotification(b []byte) (Notification, int, error) {
	if len(b) < notificationHeaderLen {
		return Notification{}, 0, errNotificationIncomplete
	}
	if b[0] != reqTypeClassIn {
		return Notification{}, 0, fmt.Errorf("usbtransport: notification bmRequestType 0x%02x, want 0xa1: %w", b[0], errNotificationMalformed)
	}
	n := Notification{
		Type:      NotificationType(b[1]),
		Value:     binary.LittleEndian.Uint16(b[2:]),
		Interface: binary.LittleEndian.Uint16(b[4:]),
	}
	dataLen := int(binary.LittleEndian.Uint16(b[6:]))
	if dataLen > maxNotificationData {
		return Notification{}, 0, fmt.Errorf("usbtransport: notification %s wLength %d exceeds %d: %w", n.Type, dataLen, maxNotificationData, errNotificationMalformed)
	}
	if len(b) < notificationHeaderLen+dataLen {
		return Notification{}, 0, errNotificationIncomplete
	}
	data := b[notificationHeaderLen : notificationHeaderLen+dataLen]
	switch n.Type {
	case NetworkConnection:
		n.Connected = n.Value == 1
	case ConnectionSpeedChange:
		if dataLen < 8 {
			return Notification{}, 0, fmt.Errorf("usbtransport: CONNECTION_SPEED_CHANGE carries %d data bytes, want 8: %w", dataLen, errNotificationMalformed)
		}
		n.DownlinkBitRate = binary.LittleEndian.Uint32(data[0:])
		n.UplinkBitRate = binary.LittleEndian.Uint32(data[4:])
	}
	return n, notificationHeaderLen + dataLen, nil
}

// notificationReader reassembles notifications from interrupt transfers:
// one transfer may hold a notification, several, or a header whose data
// follows in the next transfer.
type notificationReader struct {
	buf []byte
}

// feed adds one interrupt transfer and calls f for every notification it
// completes. On a malformed notification the buffered bytes are dropped
// (resynchronising on the next transfer) and the error returned.
func (r *notificationReader) feed(b []byte, f func(Notification)) error {
	r.buf = append(r.buf, b...)
	for len(r.buf) > 0 {
		n, used, err := ParseNotification(r.buf)
		if errors.Is(err, errNotificationIncomplete) {
			if len(r.buf) > notificationHeaderLen+maxNotificationData {
				r.buf = r.buf[:0]
			}
			return nil
		}
		if err != nil {
			r.buf = r.buf[:0]
			return err
		}
		f(n)
		r.buf = r.buf[:copy(r.buf, r.buf[used:])]
	}
	return nil
}
