package main

// Parsing and checking of the service specifications in hack/spec/*.spec.
// The format is documented in hack/spec/README.md.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type model struct {
	files    []*specFile
	services []*service
	enums    map[string]*enum
	structs  map[string]*strct
	contexts []contextType
}

type specFile struct {
	name     string // base name without extension
	services []*service
	enums    []*enum
	structs  []*strct
}

type service struct {
	Name, GoName, UUID, Prefix string
	CIDs                       []*cid
	file                       string
}

type cid struct {
	Num   uint32
	Name  string
	Kinds map[string][]layoutRef // "set", "query", "response", "notification"
}

// layoutRef selects a struct (or "" for an empty buffer) from a version on.
type layoutRef struct {
	Version uint16 // BCD, 0x0100 = 1.0
	Struct  string
}

type enum struct {
	Name, Base string
	Flags      bool
	Values     []enumValue
	file       string
}

type enumValue struct {
	Value uint64
	Name  string
}

type strct struct {
	Name   string
	Fields []*field
	file   string
	line   int
}

type field struct {
	Name, Format, Type, JSON string
	Count, Size              string // names of the count / size fields
	Len                      int    // bytes_fixed
	Personal                 bool
	NoPad                    bool // bytes_rest, bytes_inline_sized: no padding when encoding
	line                     int
	sizeOf                   []*field // set on a count/size field: the arrays it counts
}

type contextType struct{ Name, UUID string }

var kinds = []string{"set", "query", "response", "notification"}

// formats lists every field format and whether it needs a type name.
var formats = map[string]bool{
	"u16": false, "u32": false, "i32": false, "u64": false, "bool32": false,
	"uuid": false, "context_type": false, "ipv4": false, "ipv6": false,
	"string": false, "string_utf8": false, "string_array": false,
	"bytes_fixed": false, "bytes_rest": false, "bytes_ref": false, "bytes_ref_sized": false,
	"bytes_inline_sized": false, "bytes_ref_uicc": false, "u32_array": false,
	"ipv4_ref": false, "ipv6_ref": false, "ipv4_array_ref": false, "ipv6_array_ref": false,
	"struct": true, "struct_array_ref": true, "struct_ol_list": true, "ms_struct": true, "ms_struct_array": true,
	"tlv_string": false, "tlv_u16_array": false, "tlv": false, "tlv_list": false,
}

var identRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
var upperRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_]*$`)
var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func load(dir string) (*model, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.spec"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	m := &model{enums: map[string]*enum{}, structs: map[string]*strct{}}
	var errs []string
	for _, p := range paths {
		f, perr := parseFile(m, p)
		errs = append(errs, perr...)
		m.files = append(m.files, f)
	}
	errs = append(errs, m.check()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return m, nil
}

func parseFile(m *model, path string) (*specFile, []string) {
	var errs []string
	base := strings.TrimSuffix(filepath.Base(path), ".spec")
	sf := &specFile{name: base}
	fh, err := os.Open(path)
	if err != nil {
		return sf, []string{err.Error()}
	}
	defer fh.Close()
	bad := func(line int, format string, a ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s", path, line, fmt.Sprintf(format, a...)))
	}
	var (
		curSvc    *service
		curEnum   *enum
		curStruct *strct
		curCID    *cid
	)
	sc := bufio.NewScanner(fh)
	ln := 0
	for sc.Scan() {
		ln++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		w := strings.Fields(text)
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "service":
			curEnum, curStruct, curCID = nil, nil, nil
			if len(w) < 4 || !upperRE.MatchString(w[1]) || !identRE.MatchString(w[2]) || !uuidRE.MatchString(w[3]) {
				bad(ln, "want: service NAME GoName uuid [cidprefix=X]")
				continue
			}
			curSvc = &service{Name: w[1], GoName: w[2], UUID: w[3], file: base}
			for _, opt := range w[4:] {
				k, v, _ := strings.Cut(opt, "=")
				if k != "cidprefix" {
					bad(ln, "unknown service option %q", opt)
				}
				curSvc.Prefix = v
			}
			m.services = append(m.services, curSvc)
			sf.services = append(sf.services, curSvc)
		case "enum", "flags":
			curStruct, curCID = nil, nil
			if len(w) != 3 || !identRE.MatchString(w[1]) || (w[2] != "u32" && w[2] != "u64" && w[2] != "u16") {
				bad(ln, "want: %s GoName u16|u32|u64", w[0])
				continue
			}
			if _, dup := m.enums[w[1]]; dup {
				bad(ln, "enum %s defined twice", w[1])
				continue
			}
			curEnum = &enum{Name: w[1], Base: w[2], Flags: w[0] == "flags", file: base}
			m.enums[w[1]] = curEnum
			sf.enums = append(sf.enums, curEnum)
		case "struct":
			curEnum, curCID = nil, nil
			if len(w) != 2 || !identRE.MatchString(w[1]) {
				bad(ln, "want: struct GoName")
				continue
			}
			if _, dup := m.structs[w[1]]; dup {
				bad(ln, "struct %s defined twice", w[1])
				continue
			}
			curStruct = &strct{Name: w[1], file: base, line: ln}
			m.structs[w[1]] = curStruct
			sf.structs = append(sf.structs, curStruct)
		case "cid":
			curEnum, curStruct = nil, nil
			if curSvc == nil {
				bad(ln, "cid outside a service")
				continue
			}
			n, err := strconv.ParseUint(w[1], 0, 32)
			if len(w) != 3 || err != nil || !upperRE.MatchString(w[2]) {
				bad(ln, "want: cid NUMBER NAME")
				continue
			}
			curCID = &cid{Num: uint32(n), Name: w[2], Kinds: map[string][]layoutRef{}}
			curSvc.CIDs = append(curSvc.CIDs, curCID)
		case "context":
			if len(w) != 3 || !upperRE.MatchString(w[1]) || !uuidRE.MatchString(strings.ToLower(w[2])) {
				bad(ln, "want: context NAME uuid")
				continue
			}
			m.contexts = append(m.contexts, contextType{w[1], strings.ToLower(w[2])})
		case "set", "query", "response", "notification":
			if curCID == nil {
				bad(ln, "%s outside a cid", w[0])
				continue
			}
			if _, dup := curCID.Kinds[w[0]]; dup {
				bad(ln, "%s given twice", w[0])
				continue
			}
			if len(w) == 2 && strings.HasPrefix(w[1], "=") {
				src, ok := curCID.Kinds[w[1][1:]]
				if !ok {
					bad(ln, "%s refers to %s, which is not given before it", w[0], w[1])
				}
				curCID.Kinds[w[0]] = src
				continue
			}
			var refs []layoutRef
			for _, a := range w[1:] {
				ver, name, hasVer := strings.Cut(a, ":")
				v := uint16(0x0100)
				if !hasVer {
					name = ver
				} else {
					maj, min, _ := strings.Cut(ver, ".")
					a, e1 := strconv.ParseUint(maj, 10, 8)
					b, e2 := strconv.ParseUint(min, 10, 8)
					if e1 != nil || e2 != nil {
						bad(ln, "bad version %q", ver)
					}
					v = uint16(a<<8 | b)
				}
				if name == "-" {
					name = ""
				}
				refs = append(refs, layoutRef{v, name})
			}
			if len(refs) == 0 {
				bad(ln, "%s needs a layout (or -)", w[0])
			}
			sort.Slice(refs, func(i, j int) bool { return refs[i].Version < refs[j].Version })
			curCID.Kinds[w[0]] = refs
		default:
			switch {
			case curEnum != nil:
				v, err := strconv.ParseUint(w[0], 0, 64)
				if len(w) != 2 || err != nil || !upperRE.MatchString(w[1]) {
					bad(ln, "want: VALUE NAME in enum %s", curEnum.Name)
					continue
				}
				curEnum.Values = append(curEnum.Values, enumValue{v, w[1]})
			case curStruct != nil:
				f, err := parseField(w)
				if err != nil {
					bad(ln, "%v", err)
					continue
				}
				f.line = ln
				curStruct.Fields = append(curStruct.Fields, f)
			default:
				bad(ln, "unexpected %q", w[0])
			}
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err.Error())
	}
	return sf, errs
}

func parseField(w []string) (*field, error) {
	if len(w) < 2 || !identRE.MatchString(w[0]) {
		return nil, fmt.Errorf("want: GoName format [Type] [key=value...] [personal]")
	}
	f := &field{Name: w[0], Format: w[1]}
	needType, ok := formats[f.Format]
	if !ok {
		return nil, fmt.Errorf("field %s: unknown format %q", f.Name, f.Format)
	}
	for _, a := range w[2:] {
		k, v, kv := strings.Cut(a, "=")
		switch {
		case a == "personal":
			f.Personal = true
		case a == "nopad":
			f.NoPad = true
		case !kv && f.Type == "" && identRE.MatchString(a):
			f.Type = a
		case k == "json":
			f.JSON = v
		case k == "count":
			f.Count = v
		case k == "size":
			f.Size = v
		case k == "len":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("field %s: bad len %q", f.Name, v)
			}
			f.Len = n
		default:
			return nil, fmt.Errorf("field %s: unknown option %q", f.Name, a)
		}
	}
	if needType && f.Type == "" {
		return nil, fmt.Errorf("field %s: format %s needs a struct type", f.Name, f.Format)
	}
	if f.JSON == "" {
		f.JSON = snake(f.Name)
	}
	return f, nil
}

// check resolves references and enforces the layout rules the code
// generator relies on.
func (m *model) check() []string {
	var errs []string
	bad := func(s *strct, f *field, format string, a ...any) {
		errs = append(errs, fmt.Sprintf("%s.spec:%d: %s.%s: %s", s.file, f.line, s.Name, f.Name, fmt.Sprintf(format, a...)))
	}
	names := map[string]string{}
	for n := range m.enums {
		names[n] = "enum"
	}
	for n := range m.structs {
		if names[n] != "" {
			errs = append(errs, fmt.Sprintf("%s is both a struct and an enum", n))
		}
	}
	for _, s := range m.structs {
		byName := map[string]*field{}
		jsonNames := map[string]bool{}
		hasRefs, tail := false, ""
		for i, f := range s.Fields {
			if byName[f.Name] != nil {
				bad(s, f, "duplicate field")
			}
			if jsonNames[f.JSON] {
				bad(s, f, "duplicate JSON name %s", f.JSON)
			}
			byName[f.Name], jsonNames[f.JSON] = f, true
			if tail != "" {
				bad(s, f, "no field may follow %s (it runs to the end of the buffer)", tail)
			}
			switch f.Format {
			case "bytes_rest", "tlv_list", "bytes_inline_sized":
				tail = f.Name
			}
			if f.NoPad && f.Format != "bytes_rest" && f.Format != "bytes_inline_sized" {
				bad(s, f, "nopad applies to bytes_rest and bytes_inline_sized only")
			}
			if isRef(f.Format) {
				hasRefs = true
			}
			switch f.Format {
			case "u16", "u32", "u64":
				if f.Type != "" {
					e := m.enums[f.Type]
					if e == nil {
						bad(s, f, "unknown enum %s", f.Type)
					}
				}
			case "struct", "struct_array_ref", "struct_ol_list", "ms_struct", "ms_struct_array":
				t := m.structs[f.Type]
				if t == nil {
					bad(s, f, "unknown struct %s", f.Type)
					continue
				}
				if (f.Format == "struct" || f.Format == "struct_array_ref") && !m.staticOnly(t) {
					if f.Format == "struct_array_ref" || len(s.Fields) != 1 {
						bad(s, f, "%s %s must be fixed size (or the only field)", f.Format, f.Type)
					}
				}
			default:
				if f.Type != "" {
					bad(s, f, "format %s takes no type", f.Format)
				}
			}
			ref := f.Count
			switch f.Format {
			case "string_array", "u32_array", "ipv4_array_ref", "ipv6_array_ref", "struct_array_ref", "struct_ol_list":
				if f.Count == "" {
					bad(s, f, "%s needs count=Field", f.Format)
				}
			case "bytes_ref_sized", "bytes_inline_sized":
				ref = f.Size
				if f.Size == "" {
					bad(s, f, "%s needs size=Field", f.Format)
				}
			case "bytes_fixed":
				if f.Len == 0 {
					bad(s, f, "bytes_fixed needs len=N")
				}
			}
			if ref != "" {
				c := byName[ref]
				if c == nil {
					bad(s, f, "count/size field %s must come before it", ref)
				} else if c.Format != "u32" || c.Type != "" {
					bad(s, f, "count/size field %s must be a plain u32", ref)
				} else {
					c.sizeOf = append(c.sizeOf, f)
				}
			}
			_ = i
		}
		if hasRefs && tail != "" {
			errs = append(errs, fmt.Sprintf("%s.spec:%d: %s: %s cannot share a struct with referenced data", s.file, s.line, s.Name, tail))
		}
	}
	seen := map[string]string{}
	for _, sv := range m.services {
		if prev, dup := seen[sv.UUID]; dup {
			errs = append(errs, fmt.Sprintf("service %s has the UUID of %s", sv.Name, prev))
		}
		seen[sv.UUID] = sv.Name
		cids := map[uint32]bool{}
		for _, c := range sv.CIDs {
			if cids[c.Num] {
				errs = append(errs, fmt.Sprintf("%s: CID %d defined twice", sv.Name, c.Num))
			}
			cids[c.Num] = true
			for k, refs := range c.Kinds {
				for _, r := range refs {
					if r.Struct != "" && m.structs[r.Struct] == nil {
						errs = append(errs, fmt.Sprintf("%s.spec: %s %s %s: unknown struct %s", sv.file, sv.Name, c.Name, k, r.Struct))
					}
				}
			}
		}
	}
	for _, need := range []string{"TLVType"} {
		if m.enums[need] == nil {
			errs = append(errs, "the spec must define enum "+need)
		}
	}
	sort.Strings(errs)
	return errs
}

// isRef reports whether a format places data in the variable part.
func isRef(format string) bool {
	switch format {
	case "string", "string_utf8", "string_array", "bytes_ref", "bytes_ref_sized", "bytes_ref_uicc",
		"ipv4_ref", "ipv6_ref", "ipv4_array_ref", "ipv6_array_ref",
		"struct_array_ref", "struct_ol_list", "ms_struct", "ms_struct_array":
		return true
	}
	return false
}

// staticSize is the fixed-part size of a field, or -1 when it depends on
// the value (counts, TLVs, trailing bytes).
func (m *model) staticSize(f *field) int {
	switch f.Format {
	case "u16":
		return 2
	case "u32", "i32", "bool32", "ipv4", "bytes_ref_sized", "ipv4_ref", "ipv6_ref",
		"ipv4_array_ref", "ipv6_array_ref", "struct_array_ref":
		return 4
	case "u64", "string", "string_utf8", "bytes_ref", "bytes_ref_uicc", "ms_struct", "ms_struct_array":
		return 8
	case "uuid", "context_type", "ipv6":
		return 16
	case "bytes_fixed":
		return f.Len
	case "struct":
		return m.fixedSize(m.structs[f.Type])
	}
	return -1
}

// fixedSize is a struct's fixed-part size, or -1 when it varies.
func (m *model) fixedSize(s *strct) int {
	n := 0
	for _, f := range s.Fields {
		k := m.staticSize(f)
		if k < 0 {
			return -1
		}
		n += k
	}
	return n
}

// minSize is the smallest fixed part a struct can have (dynamic items empty).
func (m *model) minSize(s *strct) int {
	n := 0
	for _, f := range s.Fields {
		if k := m.staticSize(f); k > 0 {
			n += k
		} else if strings.HasPrefix(f.Format, "tlv") && f.Format != "tlv_list" {
			n += 8
		}
	}
	return n
}

// staticOnly reports a fixed-size struct with no referenced data.
func (m *model) staticOnly(s *strct) bool {
	if m.fixedSize(s) < 0 {
		return false
	}
	for _, f := range s.Fields {
		if isRef(f.Format) || (f.Format == "struct" && !m.staticOnly(m.structs[f.Type])) {
			return false
		}
	}
	return true
}

// snake turns a Go name into the snake_case JSON name: IPv4Mtu -> ipv4_mtu,
// SimIccId -> sim_icc_id.
func snake(s string) string {
	s = strings.ReplaceAll(s, "IPv4", "Ipv4")
	s = strings.ReplaceAll(s, "IPv6", "Ipv6")
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		up := c >= 'A' && c <= 'Z'
		if up && i > 0 {
			prev := r[i-1]
			prevLowerOrDigit := (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9')
			nextLower := i+1 < len(r) && r[i+1] >= 'a' && r[i+1] <= 'z'
			prevUpper := prev >= 'A' && prev <= 'Z'
			if prevLowerOrDigit || (prevUpper && nextLower) {
				b.WriteByte('_')
			}
		}
		if up {
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// camel turns an upper snake NAME into a Go identifier part: 5G_NSA -> 5GNsa.
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		b.WriteString(part[:1])
		b.WriteString(strings.ToLower(part[1:]))
	}
	return b.String()
}
