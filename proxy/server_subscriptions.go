package proxy

import (
	"slices"

	"github.com/gowwan/wwan/mbim"
)

// standardServices are the services of libmbim's standard subscribe list
// (Basic Connect … DSS): clients' entries for them are not merged.
var standardServices = []mbim.UUID{
	mbim.ServiceBasicConnect, mbim.ServiceSms, mbim.ServiceUssd, mbim.ServicePhonebook,
	mbim.ServiceStk, mbim.ServiceAuth, mbim.ServiceDss,
}

// standardSubscriptions is libmbim's standard subscribe list (reference
// §3.5 CID 19): every client starts with it, and the modem is assumed to
// have it until the proxy sends another.
func standardSubscriptions() []mbim.EventEntry {
	return []mbim.EventEntry{
		{DeviceServiceId: mbim.ServiceBasicConnect, Cids: []uint32{2, 3, 7, 9, 10, 11, 12, 13, 15, 22, 24}},
		{DeviceServiceId: mbim.ServiceSms, Cids: []uint32{1, 2, 5}},
		{DeviceServiceId: mbim.ServiceUssd, Cids: []uint32{1}},
		{DeviceServiceId: mbim.ServicePhonebook, Cids: []uint32{1}},
		{DeviceServiceId: mbim.ServiceStk, Cids: []uint32{1}},
	}
}

// MergeSubscriptions is the list the proxy sends to the modem: libmbim's
// standard list, then the entries of every client list for non-standard
// services, one entry per service, its CIDs the union (an entry with no
// CIDs, meaning all of them, wins).
func MergeSubscriptions(lists ...[]mbim.EventEntry) []mbim.EventEntry {
	out := standardSubscriptions()
	idx := map[mbim.UUID]int{}
	for _, l := range lists {
		for _, e := range l {
			if slices.Contains(standardServices, e.DeviceServiceId) {
				continue
			}
			i, ok := idx[e.DeviceServiceId]
			if !ok {
				idx[e.DeviceServiceId] = len(out)
				out = append(out, mbim.EventEntry{DeviceServiceId: e.DeviceServiceId, Cids: slices.Clone(e.Cids)})
				continue
			}
			if len(out[i].Cids) == 0 {
				continue // already all
			}
			if len(e.Cids) == 0 {
				out[i].Cids = nil
				continue
			}
			for _, cid := range e.Cids {
				if !slices.Contains(out[i].Cids, cid) {
					out[i].Cids = append(out[i].Cids, cid)
				}
			}
		}
	}
	for i := range out {
		out[i].CidsCount = uint32(len(out[i].Cids))
	}
	return out
}

// normalise copies a decoded list (its CIDs are views into the message).
func normalise(in []mbim.EventEntry) []mbim.EventEntry {
	out := make([]mbim.EventEntry, len(in))
	for i, e := range in {
		out[i] = mbim.EventEntry{DeviceServiceId: e.DeviceServiceId, CidsCount: uint32(len(e.Cids)), Cids: slices.Clone(e.Cids)}
	}
	return out
}

func equalLists(a, b []mbim.EventEntry) bool {
	return slices.EqualFunc(a, b, func(x, y mbim.EventEntry) bool {
		return x.DeviceServiceId == y.DeviceServiceId && slices.Equal(x.Cids, y.Cids)
	})
}
