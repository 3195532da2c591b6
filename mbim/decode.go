package mbim

import (
	"encoding/json"
	"errors"
)

// Decoded is a whole message decoded for people and tools (mbimctl decode,
// watch, traces): the header, and when the service and CID are known, the
// typed information buffer. Hot paths use Message and the typed layouts
// directly instead; DecodeMessage allocates.
type Decoded struct {
	Message Message
	Version Version // the MBIMEx version the body was decoded with
	Kind    Kind    // which message of the CID; meaningful when Layout != ""
	Layout  string  // name of the typed layout, "" when none is known
	Body    Body    // the decoded information buffer, nil when none
	// Redact masks personal fields (IMSI, ICCID, IMEI, telephone numbers,
	// credentials) in MarshalJSON.
	Redact bool
}

// DecodeMessage decodes the information buffer of a complete message with
// the layout of its service, CID and kind under MBIMEx version v.
//
// A message of an unknown service or CID, or a fragment, decodes to its
// header alone (Body nil) without error: the raw information buffer stays
// available through Message. A failed COMMAND_DONE with an empty buffer has
// no body either (devices usually send none). A body that does not match
// its layout is an error whose *ParseError offset counts from the start of
// the message.
func DecodeMessage(m Message, v Version) (*Decoded, error) {
	d := &Decoded{Message: m, Version: v}
	var k Kind
	switch m.Type() {
	case TypeCommand:
		k = KindQuery
		if m.CommandType() == CommandSet {
			k = KindSet
		}
	case TypeCommandDone:
		k = KindResponse
		if m.Status() != StatusSuccess && m.InformationBufferLength() == 0 {
			return d, nil
		}
	case TypeIndicateStatus:
		k = KindNotification
	default:
		return d, nil
	}
	if m.IsFragment() {
		return d, nil
	}
	body, name, err := NewBody(m.Service(), m.CID(), k, v)
	if err != nil {
		return d, nil // unknown service, CID or kind: header only
	}
	d.Kind, d.Layout = k, name
	if err := body.Decode(m.InformationBuffer()); err != nil {
		return d, rebase(m.InformationBufferOffset(), err)
	}
	d.Body = body
	return d, nil
}

// rebase adds base to the offset of a *ParseError.
func rebase(base int, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return &ParseError{Field: pe.Field, Offset: base + pe.Offset, Err: pe.Err}
	}
	return err
}

// decodedJSON is the stable JSON form of a message (see the README).
type decodedJSON struct {
	MessageType        MessageType    `json:"message_type"`
	MessageLength      uint32         `json:"message_length"`
	TransactionID      uint32         `json:"transaction_id"`
	FragmentTotal      *uint32        `json:"fragment_total,omitempty"`
	FragmentCurrent    *uint32        `json:"fragment_current,omitempty"`
	MaxControlTransfer *uint32        `json:"max_control_transfer,omitempty"`
	ErrorStatusCode    *ProtocolError `json:"error_status_code,omitempty"`
	Service            string         `json:"service,omitempty"`
	ServiceUUID        *UUID          `json:"service_uuid,omitempty"`
	CID                *cidJSON       `json:"cid,omitempty"`
	CommandType        *CommandType   `json:"command_type,omitempty"`
	Status             *Status        `json:"status,omitempty"`
	MBIMEx             string         `json:"mbimex_version,omitempty"`
	InfoLength         *uint32        `json:"information_buffer_length,omitempty"`
	Layout             string         `json:"layout,omitempty"`
	Fields             any            `json:"fields,omitempty"`
	InformationBuffer  Bytes          `json:"information_buffer,omitempty"`
}

// MarshalJSON renders the message as one JSON object: message_type,
// transaction_id, service, cid, command_type or status, and fields (the
// typed information buffer, with snake_case names after the specification)
// or, when no layout is known, information_buffer in hex.
func (d *Decoded) MarshalJSON() ([]byte, error) {
	m := d.Message
	j := decodedJSON{MessageType: m.Type(), MessageLength: m.Length(), TransactionID: m.TransactionID()}
	u32 := func(v uint32) *uint32 { return &v }
	switch m.Type() {
	case TypeOpen:
		j.MaxControlTransfer = u32(m.MaxControlTransfer())
	case TypeOpenDone, TypeCloseDone:
		s := m.Status()
		j.Status = &s
	case TypeHostError, TypeFunctionError:
		c := m.ErrorCode()
		j.ErrorStatusCode = &c
	case TypeCommand, TypeCommandDone, TypeIndicateStatus:
		if m.IsFragment() {
			j.FragmentTotal, j.FragmentCurrent = u32(m.FragmentTotal()), u32(m.FragmentCurrent())
			if m.FragmentCurrent() != 0 {
				j.InformationBuffer = m.FragmentPayload()
				return json.Marshal(j)
			}
		}
		svc := m.Service()
		j.Service = ServiceName(svc)
		if j.Service == "" {
			j.Service = "UNKNOWN"
		}
		j.ServiceUUID = &svc
		j.CID = &cidJSON{m.CID(), CIDName(svc, m.CID())}
		switch m.Type() {
		case TypeCommand:
			ct := m.CommandType()
			j.CommandType = &ct
		case TypeCommandDone:
			s := m.Status()
			j.Status = &s
		}
		j.InfoLength = u32(m.InformationBufferLength())
		if d.Layout != "" {
			j.MBIMEx = d.Version.String()
			j.Layout = d.Layout
		}
		if d.Body != nil {
			j.Fields = d.Body
			if d.Redact {
				j.Fields = Redacted(d.Body)
			}
		} else if !m.IsFragment() {
			j.InformationBuffer = Bytes(m.InformationBuffer())
		}
	}
	return json.Marshal(j)
}
