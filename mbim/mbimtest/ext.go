package mbimtest

import (
	"github.com/gowwan/wwan/mbim"
)

// SMS: an empty message store that accepts what is sent.

type smsState struct {
	format mbim.SmsFormat
	sc     string
	ref    uint32
}

func (s *Sim) smsConfiguration(r *req) result {
	if !s.m.sim.ready() {
		return fail(s.m.sim.notReadyStatus())
	}
	if r.set {
		var set mbim.SmsConfigurationSet
		if !decode(r, &set) {
			return invalid()
		}
		if set.Format != mbim.SmsFormatPdu {
			return fail(mbim.StatusSmsFormatNotSupported)
		}
		s.m.sms.format = set.Format
		if len(set.ScAddress) > 0 {
			s.m.sms.sc = set.ScAddress.String()
		}
	}
	return reply(&mbim.SmsConfigurationInfo{
		SmsStorageState: mbim.SmsStorageStateInitialized,
		Format:          s.m.sms.format,
		MaxMessages:     32,
		ScAddress:       str(s.m.sms.sc),
	})
}

func (s *Sim) smsRead(r *req) result {
	if r.set {
		return unsupported()
	}
	if !s.m.sim.ready() {
		return fail(s.m.sim.notReadyStatus())
	}
	return reply(&mbim.SmsReadInfo{Format: s.m.sms.format, PduMessages: []mbim.SmsPduReadRecord{}})
}

func (s *Sim) smsSend(r *req) result {
	if !r.set {
		return unsupported()
	}
	if !s.m.registered() {
		return fail(mbim.StatusNotRegistered)
	}
	var set mbim.SmsSendSet
	if !decode(r, &set) || len(set.PduData) == 0 {
		return invalid()
	}
	s.m.sms.ref++
	return reply(&mbim.SmsSendInfo{MessageReference: s.m.sms.ref})
}

func (s *Sim) smsDelete(r *req) result {
	if !r.set {
		return unsupported()
	}
	var set mbim.SmsDeleteSet
	if !decode(r, &set) {
		return invalid()
	}
	return reply(nil)
}

func (s *Sim) smsStoreStatus(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(&mbim.SmsMessageStoreStatusInfo{MessageIndex: 0xffffffff})
}

// Microsoft Basic Connect Extensions.

func (s *Sim) msVersion(r *req) result {
	if r.set {
		return unsupported()
	}
	var q mbim.MsVersionInfo
	if !decode(r, &q) {
		return invalid()
	}
	agreed := min(mbim.Version(q.MbimExtendedVersion), s.m.maxEx)
	if agreed < mbim.MBIMEx1 {
		agreed = mbim.MBIMEx1
	}
	s.ses.version = agreed
	return reply(&mbim.MsVersionInfo{MbimVersion: 0x0100, MbimExtendedVersion: uint16(agreed)})
}

func (s *Sim) msDeviceCaps(r *req) result {
	if r.set {
		return unsupported()
	}
	d := &s.m.dev
	if r.v >= mbim.MBIMEx3 {
		c, sub := classV3(d.DataClasses)
		return reply(&mbim.MsDeviceCapsInfoV3{
			DeviceType: d.DeviceType, CellularClass: d.CellularClass, VoiceClass: d.VoiceClass, SimClass: d.SimClass,
			DataClass: c, SmsCaps: d.SmsCaps, ControlCaps: d.ControlCaps, DataSubclass: sub, MaxSessions: d.MaxSessions,
			WcdmaBandClass: d.WcdmaBandClass, LteBandClasses: mbim.MakeUint16Table(d.LteBands...), NrBandClasses: mbim.MakeUint16Table(d.NrBands...),
			CustomDataClass: str(d.CustomDataClass), DeviceId: str(d.DeviceID), FirmwareInfo: str(d.Firmware), HardwareInfo: str(d.Hardware),
		})
	}
	return reply(&mbim.MsDeviceCapsInfoV2{
		DeviceType: d.DeviceType, CellularClass: d.CellularClass, VoiceClass: d.VoiceClass, SimClass: d.SimClass,
		DataClass: d.DataClasses, SmsCaps: d.SmsCaps, ControlCaps: d.ControlCaps, MaxSessions: d.MaxSessions,
		CustomDataClass: str(d.CustomDataClass), DeviceId: str(d.DeviceID), FirmwareInfo: str(d.Firmware), HardwareInfo: str(d.Hardware),
	})
}

func (s *Sim) msSysCaps(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(&mbim.MsSysCapsInfo{NumberOfExecutors: 1, NumberOfSlots: 1, Concurrency: 1, ModemId: s.m.dev.ModemID})
}

func (s *Sim) msDeviceSlotMappings(r *req) result {
	if r.set {
		var set mbim.MsDeviceSlotMappingsInfo
		if !decode(r, &set) || len(set.SlotMap) != 1 || set.SlotMap[0].Slot != 0 {
			return invalid()
		}
	}
	return reply(&mbim.MsDeviceSlotMappingsInfo{SlotMap: []mbim.MsSlot{{Slot: 0}}})
}

func (s *Sim) msSlotInfoStatus(r *req) result {
	if r.set {
		return unsupported()
	}
	var q mbim.MsSlotInfoStatusQuery
	if !decode(r, &q) || q.SlotIndex != 0 {
		return invalid()
	}
	st := mbim.UiccSlotStateActive
	if s.m.sim.cfg.Absent {
		st = mbim.UiccSlotStateEmpty
	} else if s.m.sim.lock == Blocked {
		st = mbim.UiccSlotStateError
	}
	return reply(&mbim.MsSlotInfoStatusInfo{SlotIndex: 0, State: st})
}

func (s *Sim) msDeviceReset(r *req) result {
	if !r.set {
		return unsupported()
	}
	// The modem answers, then goes away as a reset modem does.
	return result{after: func() { s.Reset(ResetOptions{}) }}
}

func (s *Sim) msLocationInfoStatus(r *req) result {
	if r.set {
		return unsupported()
	}
	if !s.m.registered() {
		return reply(&mbim.MsLocationInfoStatusInfo{})
	}
	n := &s.m.net
	return reply(&mbim.MsLocationInfoStatusInfo{LocationAreaCode: n.LAC, TrackingAreaCode: n.TAC, CellId: n.CellID})
}

func (s *Sim) attachAPNLocked() APN {
	a := s.m.defaultAPN()
	if a.IPTypes == 0 {
		a.IPTypes = mbim.ContextIpTypeIpv4v6
	}
	return a
}

func (s *Sim) msLteAttachConfiguration(r *req) result {
	if r.set {
		return unsupported()
	}
	a := s.attachAPNLocked()
	el := mbim.MsLteAttachConfiguration{IpType: a.IPTypes, Roaming: mbim.LteAttachContextRoamingControlHome,
		Source: mbim.ContextSourceModem, AccessString: str(a.Name), UserName: str(a.User), Password: str(a.Password), AuthProtocol: a.Auth}
	return reply(&mbim.MsLteAttachConfigurationInfo{Configurations: []mbim.MsLteAttachConfiguration{el}})
}

func (s *Sim) msLteAttachInfo(r *req) result {
	if r.set {
		return unsupported()
	}
	ps := s.m.packetService()
	state := mbim.LteAttachStateDetached
	if ps.State == mbim.PacketServiceStateAttached && hasRsrp(ps.DataClass) {
		state = mbim.LteAttachStateAttached
	}
	a := s.attachAPNLocked()
	if r.v >= mbim.MBIMEx3 {
		return reply(&mbim.MsLteAttachInfoV3{LteAttachState: state, NwError: ps.NwError, IpType: a.IPTypes,
			AccessString: str(a.Name), UserName: str(a.User), Password: str(a.Password), AuthProtocol: a.Auth})
	}
	return reply(&mbim.MsLteAttachInfo{LteAttachState: state, IpType: a.IPTypes,
		AccessString: str(a.Name), UserName: str(a.User), Password: str(a.Password), AuthProtocol: a.Auth})
}

// MS firmware id and host shutdown.

func (s *Sim) firmwareID(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(&mbim.FirmwareIdGetInfo{FirmwareId: s.m.dev.FirmwareID})
}

func (s *Sim) hostShutdown(r *req) result {
	if !r.set {
		return unsupported()
	}
	s.m.shutdown++
	return reply(nil)
}
