package mbim

import (
	"encoding/json"
	"errors"
)

// TLV is one MBIMEx 3.0 type-length-value item ("unnamed IE"). Data is a
// view into the message and excludes the padding.
//
// Wire form: u16 Type, u8 reserved, u8 PaddingLength, u32 DataLength, the
// data, then PaddingLength zero bytes. Readers trust PaddingLength (as
// libmbim does); writers always pad to 4 bytes.
type TLV struct {
	Type TLVType
	Data Bytes
}

const tlvHeaderLen = 8

// tlvLen is the encoded size of a TLV carrying n data bytes.
func tlvLen(n int) int { return tlvHeaderLen + pad4(n) }

// decTLV decodes the TLV at b[p:] and returns it with the position after it.
// The whole TLV, padding included, must lie inside b.
func decTLV(b []byte, p int, field string) (TLV, int, error) {
	if p < 0 || len(b)-p < tlvHeaderLen {
		return TLV{}, p, parseErr(field, p, ErrTruncated)
	}
	t := TLVType(le.Uint16(b[p:]))
	padding := uint64(b[p+3])
	n := uint64(le.Uint32(b[p+4:]))
	data, ok := span(b, uint64(p)+tlvHeaderLen, n)
	if !ok || padding > uint64(len(b))-uint64(p)-tlvHeaderLen-n {
		return TLV{}, p, parseErr(field, p, ErrTruncated)
	}
	return TLV{Type: t, Data: Bytes(data)}, p + tlvHeaderLen + int(n) + int(padding), nil
}

// decTLVU16s decodes a UINT16_TBL TLV as a view of its values.
func decTLVU16s(b []byte, p int, field string) (Uint16Table, int, error) {
	t, next, err := decTLV(b, p, field)
	if err != nil {
		return nil, p, err
	}
	if t.Type != TLVTypeUint16Tbl || len(t.Data)%2 != 0 {
		return nil, p, parseErr(field, p, ErrMalformed)
	}
	return Uint16Table(t.Data), next, nil
}

// decTLVList decodes TLVs from b[p:] to the end. Fewer than 8 trailing bytes
// are ignored, as libmbim does.
func decTLVList(dst []TLV, b []byte, p int, field string) ([]TLV, error) {
	dst = grow(dst, 0)
	// decTLV written out: a list is walked for every MBIMEx 3.0 message.
	for len(b)-p >= tlvHeaderLen {
		n, padding := uint64(le.Uint32(b[p+4:])), uint64(b[p+3])
		if n+padding > uint64(len(b)-p-tlvHeaderLen) {
			return dst, parseErr(field, p, ErrTruncated)
		}
		end := p + tlvHeaderLen + int(n)
		dst = append(dst, TLV{Type: TLVType(le.Uint16(b[p:])), Data: Bytes(b[p+tlvHeaderLen : end])})
		p = end + int(padding)
	}
	return dst, nil
}

// appendTLV appends a TLV with standard padding.
func appendTLV(b []byte, t TLVType, data []byte) []byte {
	padding := pad4(len(data)) - len(data)
	b = le.AppendUint16(b, uint16(t))
	b = append(b, 0, byte(padding))
	b = le.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	return append(b, zeros[:padding]...)
}

// appendTLVU16s appends a UINT16_TBL TLV.
func appendTLVU16s(b []byte, t Uint16Table) []byte {
	return appendTLV(b, TLVTypeUint16Tbl, t[:2*t.Len()])
}

// tlvListLen is the encoded size of a TLV list.
func tlvListLen(l []TLV) int {
	n := 0
	for i := range l {
		n += tlvLen(len(l[i].Data))
	}
	return n
}

func appendTLVList(b []byte, l []TLV) []byte {
	for i := range l {
		b = appendTLV(b, l[i].Type, l[i].Data)
	}
	return b
}

// WakeCommand is the data of a WAKE_COMMAND TLV: the command that woke the
// host. PayloadOffset is relative to the TLV data and must be 28 when there
// is a payload.
type WakeCommand struct {
	Service UUID
	CID     uint32
	Payload Bytes
}

// WakeCommand decodes the data of a WAKE_COMMAND TLV.
func (t TLV) WakeCommand() (WakeCommand, error) {
	var w WakeCommand
	d := t.Data
	if t.Type != TLVTypeWakeCommand {
		return w, parseErr("wake_command", 0, ErrMalformed)
	}
	if len(d) < 28 {
		return w, parseErr("wake_command", len(d), ErrTruncated)
	}
	w.Service = UUID(d[:16])
	w.CID = le.Uint32(d[16:])
	if le.Uint32(d[24:]) != 0 {
		v, err := decOffset(d, 20, uint64(le.Uint32(d[24:])), "wake_command.payload")
		if err != nil {
			return w, err
		}
		w.Payload = Bytes(v)
	}
	return w, nil
}

// WakePacket is the data of a WAKE_PACKET TLV: the packet that woke the host.
type WakePacket struct {
	FilterID           uint32
	OriginalPacketSize uint32
	Packet             Bytes
}

// WakePacket decodes the data of a WAKE_PACKET TLV.
func (t TLV) WakePacket() (WakePacket, error) {
	var w WakePacket
	d := t.Data
	if t.Type != TLVTypeWakePacket {
		return w, parseErr("wake_packet", 0, ErrMalformed)
	}
	if len(d) < 16 {
		return w, parseErr("wake_packet", len(d), ErrTruncated)
	}
	w.FilterID = le.Uint32(d)
	w.OriginalPacketSize = le.Uint32(d[4:])
	if le.Uint32(d[12:]) != 0 {
		v, err := decOffset(d, 8, uint64(le.Uint32(d[12:])), "wake_packet.packet")
		if err != nil {
			return w, err
		}
		w.Packet = Bytes(v)
	}
	return w, nil
}

// MarshalJSON shows a TLV with its type and, by type, its string, its u16
// values, the fields of a wake command or packet, or its data in hex.
func (t TLV) MarshalJSON() ([]byte, error) {
	m := map[string]any{"type": t.Type}
	switch t.Type {
	case TLVTypeWcharStr:
		if len(t.Data)%2 != 0 || !validUTF16(t.Data) {
			// Text would not carry these bytes back: show them raw.
			m["data"] = t.Data
			break
		}
		m["string"] = String(t.Data)
	case TLVTypeUint16Tbl:
		if len(t.Data)%2 != 0 {
			m["data"] = t.Data
			break
		}
		v := Uint16Table(t.Data)
		if v == nil {
			v = Uint16Table{} // [] rather than null
		}
		m["values"] = v
	case TLVTypeWakeCommand:
		w, err := t.WakeCommand()
		if err != nil {
			m["data"] = t.Data
			break
		}
		m["service"] = ServiceName(w.Service)
		m["service_uuid"] = w.Service
		m["cid"] = cidJSON{w.CID, CIDName(w.Service, w.CID)}
		m["payload_size"] = len(w.Payload)
		m["payload"] = w.Payload
		m["data"] = t.Data // the exact bytes, so that the JSON builds them again
	case TLVTypeWakePacket:
		w, err := t.WakePacket()
		if err != nil {
			m["data"] = t.Data
			break
		}
		m["filter_id"] = w.FilterID
		m["original_packet_size"] = w.OriginalPacketSize
		m["packet_size"] = len(w.Packet)
		m["packet"] = w.Packet
		m["data"] = t.Data
	default:
		m["data"] = t.Data
	}
	return json.Marshal(m)
}

// UnmarshalJSON accepts {"type": ..., "string": "..."} or {"type": ...,
// "data": "hex"} (and "values" for UINT16_TBL).
func (t *TLV) UnmarshalJSON(b []byte) error {
	var j struct {
		Type   TLVType  `json:"type"`
		String *String  `json:"string"`
		Data   Bytes    `json:"data"`
		Values []uint16 `json:"values"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t.Type, t.Data = j.Type, nil
	switch {
	case j.String != nil:
		t.Data = Bytes(*j.String)
		if t.Data == nil {
			t.Data = Bytes{}
		}
	case j.Values != nil:
		for _, v := range j.Values {
			t.Data = le.AppendUint16(t.Data, v)
		}
	case j.Data != nil:
		t.Data = j.Data
	default:
		return errors.New("mbim: TLV needs string, values or data")
	}
	return nil
}

// cidJSON prints a CID as {"value": n, "name": "NAME"}.
type cidJSON struct {
	Value uint32
	Name  string
}

func (c cidJSON) MarshalJSON() ([]byte, error) { return marshalEnum(uint64(c.Value), c.Name) }
