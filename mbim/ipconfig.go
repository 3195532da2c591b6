package mbim

import "net/netip"

// Addresses in IP_CONFIGURATION print as "address/prefix" (JSON and text),
// the form `ip addr` uses.

// Prefix returns the element as a netip.Prefix (invalid when the prefix
// length is out of range for IPv4).
func (e IPv4Element) Prefix() netip.Prefix {
	return netip.PrefixFrom(e.IPv4Address, int(min(e.OnLinkPrefixLength, 255)))
}

func (e IPv4Element) String() string { return string(prefixText(e.IPv4Address, e.OnLinkPrefixLength)) }

func (e IPv4Element) MarshalText() ([]byte, error) {
	return prefixText(e.IPv4Address, e.OnLinkPrefixLength), nil
}

func (e *IPv4Element) UnmarshalText(b []byte) error {
	a, n, err := parsePrefixText(b)
	e.IPv4Address, e.OnLinkPrefixLength = a, n
	return err
}

// Prefix returns the element as a netip.Prefix (invalid when the prefix
// length is out of range for IPv6).
func (e IPv6Element) Prefix() netip.Prefix {
	return netip.PrefixFrom(e.IPv6Address, int(min(e.OnLinkPrefixLength, 255)))
}

func (e IPv6Element) String() string { return string(prefixText(e.IPv6Address, e.OnLinkPrefixLength)) }

func (e IPv6Element) MarshalText() ([]byte, error) {
	return prefixText(e.IPv6Address, e.OnLinkPrefixLength), nil
}

func (e *IPv6Element) UnmarshalText(b []byte) error {
	a, n, err := parsePrefixText(b)
	e.IPv6Address, e.OnLinkPrefixLength = a, n
	return err
}
