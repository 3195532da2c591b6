package usbtransport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/gowwan/wwan/mbim"
)

// USB descriptor types and CDC values used by the walker (USB 2.0 §9.4,
// CDC 1.2, MBIM 1.0 §6; see mbim-reference.md §7.1–7.2).
const (
	descDevice      = 0x01
	descConfig      = 0x02
	descInterface   = 0x04
	descEndpoint    = 0x05
	descIAD         = 0x0B
	descCSInterface = 0x24

	cdcHeader       = 0x00
	cdcUnion        = 0x06
	cdcMBIM         = 0x1B
	cdcMBIMExtended = 0x1C

	// ClassComm, SubclassMBIM and ProtocolMBIM identify the MBIM
	// communication (control) interface.
	ClassComm    = 0x02
	SubclassMBIM = 0x0E
	ProtocolMBIM = 0x00
	// ClassCDCData and ProtocolMBIMNTB identify the MBIM data interface.
	ClassCDCData    = 0x0A
	ProtocolMBIMNTB = 0x02

	transferTypeMask = 0x03
	transferBulk     = 0x02
	transferIntr     = 0x03
	endpointIn       = 0x80
)

// Endpoint is one endpoint of the MBIM function.
type Endpoint struct {
	Address       uint8 // bEndpointAddress, direction bit 0x80 included
	MaxPacketSize int   // wMaxPacketSize, bits 0..10
	Interval      int   // bInterval
}

// Number is the endpoint number without the direction bit.
func (e Endpoint) Number() int { return int(e.Address & 0x0f) }

// Descriptors is what the USB descriptors say about one MBIM function:
// its interfaces and endpoints and the values of its MBIM functional
// descriptors.
type Descriptors struct {
	// VendorID and ProductID come from the device descriptor when the
	// input starts with one (the sysfs descriptors file does, a
	// GET_DESCRIPTOR(CONFIGURATION) answer does not); otherwise 0.
	VendorID, ProductID uint16

	// ConfigValue is the bConfigurationValue of the configuration that
	// holds the function; ConfigIndex is its position in the input.
	ConfigValue int
	ConfigIndex int

	// ControlInterface is the MBIM communication interface (class 0x02,
	// subclass 0x0E, protocol 0); ControlAlt its alternate setting: 0, or
	// 1 on a combined NCM/MBIM function whose alt 0 is NCM (quirk Q23).
	ControlInterface int
	ControlAlt       int
	// DataInterface is the CDC Union's bSlaveInterface0, or the control
	// interface + 1 when the device has no Union descriptor (quirk Q20);
	// DataFromUnion tells which. DataAlt is the alternate setting with the
	// bulk endpoints: 1, or 2 on NCM/MBIM.
	DataInterface int
	DataAlt       int
	DataFromUnion bool

	Interrupt Endpoint // notification endpoint (interrupt IN)
	BulkIn    Endpoint // NTBs from the function
	BulkOut   Endpoint // NTBs to the function

	CDCVersion uint16 // bcdCDC of the Header functional descriptor, 0 if absent

	// The MBIM functional descriptor (subtype 0x1B).
	MBIMVersion         uint16 // bcdMBIMVersion, 0x0100 for MBIM 1.0
	MaxControlMessage   int    // wMaxControlMessage
	NumberFilters       int    // bNumberFilters
	MaxFilterSize       int    // bMaxFilterSize
	MaxSegmentSize      int    // wMaxSegmentSize
	NetworkCapabilities uint8  // bmNetworkCapabilities

	// The MBIM extended functional descriptor (subtype 0x1C), if Extended.
	Extended                      bool
	ExtendedVersion               uint16 // bcdMBIMExtendedVersion
	MaxOutstandingCommandMessages int    // bMaxOutstandingCommandMessages
	MTU                           int    // wMTU, 0 when absent or not given
}

// MaxControlTransfer is the control message limit to use with this
// function: wMaxControlMessage, or mbim.DefaultMaxControlTransfer when the
// descriptor says 0.
func (d *Descriptors) MaxControlTransfer() int {
	if d.MaxControlMessage <= 0 {
		return mbim.DefaultMaxControlTransfer
	}
	return d.MaxControlMessage
}

// ParseConfigDescriptors walks raw USB descriptors and returns the first
// MBIM function it finds. raw is either one configuration descriptor with
// everything that follows it (the answer to GET_DESCRIPTOR(CONFIGURATION)),
// or the sysfs descriptors file: the device descriptor followed by every
// configuration. Descriptors are walked by bLength; unknown types are
// skipped.
//
// Like the kernel, the walk stops at a descriptor whose bLength is below 2
// or runs past the end, and keeps what it found before; if that is not a
// complete MBIM function, the error says where the walk stopped. A
// descriptor of a known type that is shorter than its layout is an error.
// Errors wrap ErrMalformedDescriptor or ErrNoMBIMFunction.
func ParseConfigDescriptors(raw []byte) (Descriptors, error) {
	return parseDescriptors(raw, 0)
}

// ifSetting is one interface descriptor (one alternate setting) and what
// follows it up to the next interface descriptor.
type ifSetting struct {
	off                    int
	num, alt               int
	class, subclass, proto int
	union                  bool
	unionSlave             int
	header                 []byte
	mbim                   []byte
	mbimOff                int
	mbimExt                []byte
	endpoints              []epDesc
}

type epDesc struct {
	Endpoint
	attrs uint8
}

type configDesc struct {
	index, value int
	settings     []ifSetting
}

// parseDescriptors is ParseConfigDescriptors restricted to the
// configuration whose bConfigurationValue is wantConfig (0: any).
func parseDescriptors(raw []byte, wantConfig int) (Descriptors, error) {
	var d Descriptors
	configs, walkErr, err := walkDescriptors(raw, &d)
	if err != nil {
		return Descriptors{}, err
	}
	var firstErr error
	for i := range configs {
		c := &configs[i]
		if wantConfig != 0 && c.value != wantConfig {
			continue
		}
		ctl := -1
		for j := range c.settings {
			s := &c.settings[j]
			if s.class == ClassComm && s.subclass == SubclassMBIM && s.proto == ProtocolMBIM {
				ctl = j
				break
			}
		}
		if ctl < 0 {
			continue
		}
		f, err := buildFunction(d, c, ctl)
		if err == nil {
			return f, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		var fe, we *DescriptorError
		if errors.As(firstErr, &fe) && errors.As(walkErr, &we) {
			return Descriptors{}, &DescriptorError{
				Offset: fe.Offset,
				Msg:    fmt.Sprintf("%s (the walk stopped early at byte %d: %s)", fe.Msg, we.Offset, we.Msg),
			}
		}
		return Descriptors{}, firstErr
	}
	if walkErr != nil {
		return Descriptors{}, walkErr
	}
	if wantConfig != 0 {
		return Descriptors{}, fmt.Errorf("usbtransport: configuration %d has no MBIM control interface (class 02/0e/00): %w", wantConfig, ErrNoMBIMFunction)
	}
	return Descriptors{}, fmt.Errorf("usbtransport: no MBIM control interface (class 02/0e/00) in %d configuration(s): %w", len(configs), ErrNoMBIMFunction)
}

// walkDescriptors splits raw into configurations and interface settings.
// walkErr is set when the walk stopped early on a broken bLength; err is
// set for a known descriptor that is too short for its layout.
func walkDescriptors(raw []byte, d *Descriptors) (configs []configDesc, walkErr, err error) {
	var cur *configDesc
	var set *ifSetting
	for off := 0; off < len(raw); {
		rest := len(raw) - off
		if rest < 2 {
			walkErr = malformed(off, "%d stray byte(s) after the last descriptor", rest)
			break
		}
		bLength, bType := int(raw[off]), raw[off+1]
		if bLength < 2 {
			walkErr = malformed(off, "bLength %d is below 2", bLength)
			break
		}
		if bLength > rest {
			walkErr = malformed(off, "descriptor type 0x%02x with bLength %d runs past the end (%d bytes left)", bType, bLength, rest)
			break
		}
		b := raw[off : off+bLength]
		switch bType {
		case descDevice:
			if bLength < 18 {
				return nil, nil, malformed(off, "device descriptor is %d bytes, want 18", bLength)
			}
			if off == 0 {
				d.VendorID = binary.LittleEndian.Uint16(b[8:])
				d.ProductID = binary.LittleEndian.Uint16(b[10:])
			}
		case descConfig:
			if bLength < 9 {
				return nil, nil, malformed(off, "configuration descriptor is %d bytes, want 9", bLength)
			}
			if total := binary.LittleEndian.Uint16(b[2:]); total < 9 {
				return nil, nil, malformed(off, "configuration wTotalLength %d is below 9", total)
			}
			configs = append(configs, configDesc{index: len(configs), value: int(b[5])})
			cur, set = &configs[len(configs)-1], nil
		case descInterface:
			if bLength < 9 {
				return nil, nil, malformed(off, "interface descriptor is %d bytes, want 9", bLength)
			}
			if cur == nil {
				// An interface outside any configuration: a bare
				// interface list. Give it a configuration of its own.
				configs = append(configs, configDesc{index: len(configs)})
				cur = &configs[len(configs)-1]
			}
			cur.settings = append(cur.settings, ifSetting{
				off: off, num: int(b[2]), alt: int(b[3]),
				class: int(b[5]), subclass: int(b[6]), proto: int(b[7]),
			})
			set = &cur.settings[len(cur.settings)-1]
		case descEndpoint:
			if bLength < 7 {
				return nil, nil, malformed(off, "endpoint descriptor is %d bytes, want 7", bLength)
			}
			if set != nil {
				set.endpoints = append(set.endpoints, epDesc{
					Endpoint: Endpoint{
						Address:       b[2],
						MaxPacketSize: int(binary.LittleEndian.Uint16(b[4:]) & 0x7ff),
						Interval:      int(b[6]),
					},
					attrs: b[3],
				})
			}
		case descIAD:
			if bLength < 8 {
				return nil, nil, malformed(off, "interface association descriptor is %d bytes, want 8", bLength)
			}
		case descCSInterface:
			if bLength < 3 || set == nil {
				break
			}
			switch b[2] {
			case cdcHeader:
				if bLength < 5 {
					return nil, nil, malformed(off, "CDC header functional descriptor is %d bytes, want 5", bLength)
				}
				set.header = b
			case cdcUnion:
				if bLength < 5 {
					return nil, nil, malformed(off, "CDC union functional descriptor is %d bytes, want at least 5", bLength)
				}
				if !set.union {
					set.union, set.unionSlave = true, int(b[4])
				}
			case cdcMBIM:
				if bLength < 12 {
					return nil, nil, malformed(off, "MBIM functional descriptor is %d bytes, want 12", bLength)
				}
				if set.mbim == nil {
					set.mbim, set.mbimOff = b, off
				}
			case cdcMBIMExtended:
				if bLength < 8 {
					return nil, nil, malformed(off, "MBIM extended functional descriptor is %d bytes, want 8", bLength)
				}
				if set.mbimExt == nil {
					set.mbimExt = b
				}
			}
		}
		off += bLength
	}
	return configs, walkErr, nil
}

// buildFunction completes the function whose control interface is
// c.settings[ctl].
func buildFunction(d Descriptors, c *configDesc, ctl int) (Descriptors, error) {
	s := &c.settings[ctl]
	d.ConfigValue, d.ConfigIndex = c.value, c.index
	d.ControlInterface, d.ControlAlt = s.num, s.alt
	if s.mbim == nil {
		return Descriptors{}, malformed(s.off, "MBIM control interface %d (alt %d) has no MBIM functional descriptor (type 0x24, subtype 0x1B)", s.num, s.alt)
	}
	m := s.mbim
	d.MBIMVersion = binary.LittleEndian.Uint16(m[3:])
	d.MaxControlMessage = int(binary.LittleEndian.Uint16(m[5:]))
	d.NumberFilters = int(m[7])
	d.MaxFilterSize = int(m[8])
	d.MaxSegmentSize = int(binary.LittleEndian.Uint16(m[9:]))
	d.NetworkCapabilities = m[11]
	if s.header != nil {
		d.CDCVersion = binary.LittleEndian.Uint16(s.header[3:])
	}
	if x := s.mbimExt; x != nil {
		d.Extended = true
		d.ExtendedVersion = binary.LittleEndian.Uint16(x[3:])
		d.MaxOutstandingCommandMessages = int(x[5])
		d.MTU = int(binary.LittleEndian.Uint16(x[6:]))
	}

	found := false
	for _, ep := range s.endpoints {
		if ep.attrs&transferTypeMask == transferIntr && ep.Address&endpointIn != 0 {
			d.Interrupt, found = ep.Endpoint, true
			break
		}
	}
	if !found {
		return Descriptors{}, malformed(s.off, "MBIM control interface %d (alt %d) has no interrupt IN endpoint", s.num, s.alt)
	}

	if s.union {
		d.DataInterface, d.DataFromUnion = s.unionSlave, true
	} else {
		d.DataInterface = s.num + 1
	}
	if d.DataInterface == d.ControlInterface {
		return Descriptors{}, malformed(s.off, "CDC union names the control interface %d as its data interface", s.num)
	}
	best, bestScore, seen := -1, 0, false
	for j := range c.settings {
		t := &c.settings[j]
		if t.num != d.DataInterface {
			continue
		}
		seen = true
		in, out := bulkPair(t.endpoints)
		if in == nil || out == nil {
			continue
		}
		score := 1
		if t.class == ClassCDCData {
			score++
			if t.proto == ProtocolMBIMNTB {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = j, score
			d.BulkIn, d.BulkOut = in.Endpoint, out.Endpoint
		}
	}
	if !seen {
		how := "CDC union's bSlaveInterface0"
		if !d.DataFromUnion {
			how = "control interface + 1, no CDC union"
		}
		return Descriptors{}, malformed(s.off, "MBIM data interface %d (%s) is not in configuration %d", d.DataInterface, how, c.value)
	}
	if best < 0 {
		return Descriptors{}, malformed(s.off, "MBIM data interface %d has no alternate setting with bulk IN and OUT endpoints", d.DataInterface)
	}
	d.DataAlt = c.settings[best].alt
	return d, nil
}

func bulkPair(eps []epDesc) (in, out *epDesc) {
	for i := range eps {
		ep := &eps[i]
		if ep.attrs&transferTypeMask != transferBulk {
			continue
		}
		if ep.Address&endpointIn != 0 {
			if in == nil {
				in = ep
			}
		} else if out == nil {
			out = ep
		}
	}
	return in, out
}

// DescriptorError reports malformed USB descriptors: where, and what is
// wrong. It wraps ErrMalformedDescriptor.
type DescriptorError struct {
	Offset int    // byte offset of the offending descriptor in the input
	Msg    string // what is wrong with it
}

func (e *DescriptorError) Error() string {
	return "usbtransport: malformed USB descriptor at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

func (e *DescriptorError) Unwrap() error { return ErrMalformedDescriptor }

func malformed(off int, format string, args ...any) error {
	return &DescriptorError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// scanMaxControlMessage finds wMaxControlMessage the way libmbim does when
// the descriptors cannot be walked: by the MBIM functional descriptor's
// byte signature 0c 24 1b. It returns 0 when there is none.
func scanMaxControlMessage(raw []byte) int {
	for i := 0; i+12 <= len(raw); i++ {
		if raw[i] == 12 && raw[i+1] == descCSInterface && raw[i+2] == cdcMBIM {
			return int(binary.LittleEndian.Uint16(raw[i+5:]))
		}
	}
	return 0
}
