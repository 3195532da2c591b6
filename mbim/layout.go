package mbim

//go:generate go run ../hack/gen -spec ../hack/spec -out .

// Look-ups over the generated service tables (zz_tables.go): names of
// services and CIDs, and the typed layout of an information buffer.

// Kind says which of a CID's messages an information buffer belongs to.
type Kind uint8

const (
	KindSet Kind = iota
	KindQuery
	KindResponse
	KindNotification
)

func (k Kind) String() string {
	switch k {
	case KindSet:
		return "set"
	case KindQuery:
		return "query"
	case KindResponse:
		return "response"
	case KindNotification:
		return "notification"
	}
	return "kind?"
}

// Body is a typed information buffer: every generated layout implements it.
// Decode aliases its input (strings and bytes are views); AppendBinary
// appends the encoding; EncodedLen is the size AppendBinary appends.
type Body interface {
	Decode(b []byte) error
	AppendBinary(b []byte) ([]byte, error)
	EncodedLen() int
}

// Empty is the layout of an empty information buffer. Decode accepts any
// bytes (a device may pad), AppendBinary appends nothing.
type Empty struct{}

func (*Empty) Decode([]byte) error                   { return nil }
func (*Empty) AppendBinary(b []byte) ([]byte, error) { return b, nil }
func (*Empty) EncodedLen() int                       { return 0 }

type serviceInfo struct {
	uuid UUID
	name string
	cids []cidInfo // sorted by num
}

type cidInfo struct {
	num     uint32
	name    string
	layouts [4][]layoutInfo // by Kind; each sorted by since
}

type layoutInfo struct {
	since Version
	name  string
	new   func() Body
}

func lookupService(u UUID) *serviceInfo {
	for i := range serviceTable {
		if serviceTable[i].uuid == u {
			return &serviceTable[i]
		}
	}
	return nil
}

func (s *serviceInfo) cid(n uint32) *cidInfo {
	for i := range s.cids {
		if s.cids[i].num == n {
			return &s.cids[i]
		}
	}
	return nil
}

// ServiceName is the name of a known service ("BASIC_CONNECT"), or "".
func ServiceName(u UUID) string {
	if s := lookupService(u); s != nil {
		return s.name
	}
	return ""
}

// ServiceByName finds a service's UUID by its name.
func ServiceByName(name string) (UUID, bool) {
	for i := range serviceTable {
		if serviceTable[i].name == name {
			return serviceTable[i].uuid, true
		}
	}
	return UUID{}, false
}

// CIDName is the name of a known CID of a service ("DEVICE_CAPS"), or "".
func CIDName(service UUID, cid uint32) string {
	if s := lookupService(service); s != nil {
		if c := s.cid(cid); c != nil {
			return c.name
		}
	}
	return ""
}

// CIDByName finds a CID of a service by its name.
func CIDByName(service UUID, name string) (uint32, bool) {
	if s := lookupService(service); s != nil {
		for _, c := range s.cids {
			if c.name == name {
				return c.num, true
			}
		}
	}
	return 0, false
}

// Allowed reports whether a CID of a service has a message of this kind
// (whether it can be set, queried, or sent as a notification).
func Allowed(service UUID, cid uint32, k Kind) bool {
	_, ok := layout(service, cid, k, MBIMEx3)
	return ok
}

func layout(service UUID, cid uint32, k Kind, v Version) (layoutInfo, bool) {
	s := lookupService(service)
	if s == nil || k > KindNotification {
		return layoutInfo{}, false
	}
	c := s.cid(cid)
	if c == nil {
		return layoutInfo{}, false
	}
	ls := c.layouts[k]
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].since <= v || i == 0 {
			// Below the oldest layout's version the oldest one applies.
			return ls[i], true
		}
	}
	return layoutInfo{}, false
}

// NewBody returns a new, empty value of the layout that a message of this
// service, CID and kind has under the negotiated MBIMEx version v, and the
// layout's name. It returns ErrNoLayout for an unknown service or CID, or a
// kind the CID does not have.
func NewBody(service UUID, cid uint32, k Kind, v Version) (Body, string, error) {
	l, ok := layout(service, cid, k, v)
	if !ok {
		return nil, "", ErrNoLayout
	}
	return l.new(), l.name, nil
}

// PersonalFields lists the JSON names of the fields of a layout that carry
// personal data (IMSI, ICCID, IMEI, telephone numbers, credentials).
func PersonalFields(layout string) []string { return personalFields[layout] }

// LayoutRef names one typed layout of the tables; Layouts lists them all,
// for tools, fuzzing and tests that must cover every layout.
type LayoutRef struct {
	Service UUID
	CID     uint32
	Kind    Kind
	Since   Version
	Name    string
	New     func() Body
}

// Layouts returns every layout of every known service.
func Layouts() []LayoutRef {
	var out []LayoutRef
	for _, s := range serviceTable {
		for _, c := range s.cids {
			for k, ls := range c.layouts {
				for _, l := range ls {
					out = append(out, LayoutRef{s.uuid, c.num, Kind(k), l.since, l.name, l.new})
				}
			}
		}
	}
	return out
}

func contextTypeName(u UUID) string {
	for _, c := range contextTypeTable {
		if c.uuid == u {
			return c.name
		}
	}
	return ""
}

func contextTypeByName(name string) (UUID, bool) {
	for _, c := range contextTypeTable {
		if c.name == name {
			return c.uuid, true
		}
	}
	return UUID{}, false
}
