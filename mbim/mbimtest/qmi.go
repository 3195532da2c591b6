package mbimtest

import (
	"encoding/binary"

	"github.com/gowwan/wwan/mbim"
)

// QMI over MBIM: the information buffer of QMI MSG (CID 1, set) is one raw
// QMUX frame, and so is the response's. The model answers the control
// service (client ids, version info, sync) and the DMS identity messages,
// which is what qmicli --device-open-mbim --dms-get-ids and friends need;
// any other message gets the QMI error InvalidQmiCommand so that clients
// fail fast.

// QMI services and messages the model knows.
const (
	qmiCTL = 0x00
	qmiWDS = 0x01
	qmiDMS = 0x02
	qmiNAS = 0x03
	qmiUIM = 0x0b

	qmiCtlSetInstanceID = 0x0020
	qmiCtlVersionInfo   = 0x0021
	qmiCtlAllocateCID   = 0x0022
	qmiCtlReleaseCID    = 0x0023
	qmiCtlSync          = 0x0027
	qmiCtlProxyOpen     = 0xff00 // libqmi's qmi-proxy; harmless to accept

	qmiDmsGetManufacturer = 0x0021
	qmiDmsGetModel        = 0x0022
	qmiDmsGetRevision     = 0x0023
	qmiDmsGetMSISDN       = 0x0024
	qmiDmsGetIDs          = 0x0025
)

// QMI protocol errors used (libqmi's QmiProtocolError).
const (
	qmiErrClientIDsExhausted = 5
	qmiErrInvalidClientID    = 7
	qmiErrInvalidServiceType = 31
	qmiErrUimUninitialized   = 37
	qmiErrInvalidQmiCommand  = 71
)

// qmiState holds the allocated client ids per QMI service.
type qmiState struct {
	clients map[uint8]map[uint8]bool
	next    uint8
}

// qmiVersions is what CTL Get Version Info reports.
var qmiVersions = []struct {
	svc          uint8
	major, minor uint16
}{{qmiCTL, 1, 5}, {qmiWDS, 1, 67}, {qmiDMS, 1, 14}, {qmiNAS, 1, 25}, {qmiUIM, 1, 46}}

// qmiTLVs finds the TLVs of a QMI message body.
func qmiTLVs(b []byte) map[uint8][]byte {
	out := map[uint8][]byte{}
	for len(b) >= 3 {
		t, n := b[0], int(binary.LittleEndian.Uint16(b[1:]))
		if len(b) < 3+n {
			break
		}
		out[t] = b[3 : 3+n]
		b = b[3+n:]
	}
	return out
}

func appendTLV(b []byte, t uint8, v []byte) []byte {
	b = append(b, t)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func appendResult(b []byte, qmiErr uint16) []byte {
	v := []byte{0, 0, 0, 0}
	if qmiErr != 0 {
		binary.LittleEndian.PutUint16(v, 1)
		binary.LittleEndian.PutUint16(v[2:], qmiErr)
	}
	return appendTLV(b, 0x02, v)
}

func (s *Sim) qmiMsg(r *req) result {
	if !r.set {
		return unsupported()
	}
	resp, good := s.qmuxLocked(r.info)
	if !good {
		return invalid()
	}
	return reply(&mbim.QmiMsgInfo{Qmux: resp})
}

// qmuxLocked answers one QMUX request frame.
func (s *Sim) qmuxLocked(f []byte) ([]byte, bool) {
	if len(f) < 6 || f[0] != 0x01 || int(binary.LittleEndian.Uint16(f[1:]))+1 > len(f) || f[3]&0x80 != 0 {
		return nil, false
	}
	f = f[:int(binary.LittleEndian.Uint16(f[1:]))+1]
	svc, client := f[4], f[5]
	if svc == qmiCTL {
		if len(f) < 12 {
			return nil, false
		}
		tid, msg := f[7], binary.LittleEndian.Uint16(f[8:])
		tlvs := qmiTLVs(f[12:])
		body := s.qmiCtlLocked(msg, tlvs)
		sdu := []byte{0x01, tid}
		sdu = binary.LittleEndian.AppendUint16(sdu, msg)
		sdu = binary.LittleEndian.AppendUint16(sdu, uint16(len(body)))
		return qmuxFrame(svc, client, append(sdu, body...)), true
	}
	if len(f) < 13 {
		return nil, false
	}
	tid, msg := binary.LittleEndian.Uint16(f[7:]), binary.LittleEndian.Uint16(f[9:])
	var body []byte
	if !s.m.qmi.clients[svc][client] {
		body = appendResult(nil, qmiErrInvalidClientID)
	} else if svc == qmiDMS {
		body = s.qmiDmsLocked(msg)
	} else {
		body = appendResult(nil, qmiErrInvalidQmiCommand)
	}
	sdu := []byte{0x02}
	sdu = binary.LittleEndian.AppendUint16(sdu, tid)
	sdu = binary.LittleEndian.AppendUint16(sdu, msg)
	sdu = binary.LittleEndian.AppendUint16(sdu, uint16(len(body)))
	return qmuxFrame(svc, client, append(sdu, body...)), true
}

func qmuxFrame(svc, client uint8, sdu []byte) []byte {
	b := []byte{0x01, 0, 0, 0x80, svc, client}
	b = append(b, sdu...)
	binary.LittleEndian.PutUint16(b[1:], uint16(len(b)-1))
	return b
}

func (s *Sim) qmiCtlLocked(msg uint16, tlvs map[uint8][]byte) []byte {
	q := &s.m.qmi
	switch msg {
	case qmiCtlSetInstanceID:
		return appendTLV(appendResult(nil, 0), 0x01, []byte{0, 0xff})
	case qmiCtlSync, qmiCtlProxyOpen:
		return appendResult(nil, 0)
	case qmiCtlVersionInfo:
		v := []byte{byte(len(qmiVersions))}
		for _, x := range qmiVersions {
			v = append(v, x.svc)
			v = binary.LittleEndian.AppendUint16(v, x.major)
			v = binary.LittleEndian.AppendUint16(v, x.minor)
		}
		return appendTLV(appendResult(nil, 0), 0x01, v)
	case qmiCtlAllocateCID:
		t := tlvs[0x01]
		if len(t) < 1 {
			return appendResult(nil, qmiErrInvalidServiceType)
		}
		svc := t[0]
		known := false
		for _, x := range qmiVersions {
			known = known || (x.svc == svc && svc != qmiCTL)
		}
		if !known {
			return appendResult(nil, qmiErrInvalidServiceType)
		}
		if q.clients == nil {
			q.clients = map[uint8]map[uint8]bool{}
		}
		if q.clients[svc] == nil {
			q.clients[svc] = map[uint8]bool{}
		}
		if len(q.clients[svc]) >= 254 {
			return appendResult(nil, qmiErrClientIDsExhausted)
		}
		for {
			q.next++
			if q.next != 0 && q.next != 0xff && !q.clients[svc][q.next] {
				break
			}
		}
		q.clients[svc][q.next] = true
		return appendTLV(appendResult(nil, 0), 0x01, []byte{svc, q.next})
	case qmiCtlReleaseCID:
		t := tlvs[0x01]
		if len(t) < 2 || !q.clients[t[0]][t[1]] {
			return appendResult(nil, qmiErrInvalidClientID)
		}
		delete(q.clients[t[0]], t[1])
		return appendTLV(appendResult(nil, 0), 0x01, []byte{t[0], t[1]})
	}
	return appendResult(nil, qmiErrInvalidQmiCommand)
}

func (s *Sim) qmiDmsLocked(msg uint16) []byte {
	d := &s.m.dev
	switch msg {
	case qmiDmsGetManufacturer:
		return appendTLV(appendResult(nil, 0), 0x01, []byte(d.Manufacturer))
	case qmiDmsGetModel:
		return appendTLV(appendResult(nil, 0), 0x01, []byte(d.Model))
	case qmiDmsGetRevision:
		return appendTLV(appendResult(nil, 0), 0x01, []byte(d.Firmware))
	case qmiDmsGetMSISDN:
		if !s.m.sim.ready() || len(s.m.sim.cfg.Numbers) == 0 {
			return appendResult(nil, qmiErrUimUninitialized)
		}
		return appendTLV(appendResult(nil, 0), 0x01, []byte(s.m.sim.cfg.Numbers[0]))
	case qmiDmsGetIDs:
		return appendTLV(appendResult(nil, 0), 0x11, []byte(d.DeviceID))
	}
	return appendResult(nil, qmiErrInvalidQmiCommand)
}
