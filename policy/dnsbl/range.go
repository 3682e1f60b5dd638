package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Range is an inclusive range of IPv4 answer codes, such as 127.0.0.2-127.0.0.11.
type Range struct{ From, To netip.Addr }

// defaultListed is used for a zone without Listed ranges: 127.0.0.0/8 minus
// 127.255.255.0/24, the block Spamhaus and others use for error answers.
var defaultListed = []Range{{
	From: netip.AddrFrom4([4]byte{127, 0, 0, 0}),
	To:   netip.AddrFrom4([4]byte{127, 255, 254, 255}),
}}

// errRange is wrapped by every error ParseRange returns.
var errRange = errors.New("dnsbl: invalid answer code range")

// ParseRange parses "127.0.0.2-127.0.0.11", "127.0.0.2" or "127.0.0.0/24".
// Answer codes are A records, so only IPv4 addresses are accepted.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err := parseCode(from)
		if err != nil {
			return Range{}, fmt.Errorf("%w %q: %w", errRange, s, err)
		}
		b, err := parseCode(to)
		if err != nil {
			return Range{}, fmt.Errorf("%w %q: %w", errRange, s, err)
		}
		if b.Less(a) {
			return Range{}, fmt.Errorf("%w %q: %s is after %s", errRange, s, a, b)
		}
		return Range{From: a, To: b}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, fmt.Errorf("%w %q: %w", errRange, s, err)
		}
		if !p.Addr().Is4() {
			return Range{}, fmt.Errorf("%w %q: not an IPv4 prefix", errRange, s)
		}
		p = p.Masked()
		a := p.Addr().As4()
		n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		n |= uint32(uint64(1)<<(32-p.Bits()) - 1)
		last := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		return Range{From: p.Addr(), To: last}, nil
	}
	a, err := parseCode(s)
	if err != nil {
		return Range{}, fmt.Errorf("%w %q: %w", errRange, s, err)
	}
	return Range{From: a, To: a}, nil
}

// parseCode parses one IPv4 answer code.
func parseCode(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s is not an IPv4 address", a)
	}
	return a, nil
}

// Contains reports whether a lies within the range.
func (r Range) Contains(a netip.Addr) bool {
	return r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// String returns the range in the form ParseRange accepts.
func (r Range) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	return r.From.String() + "-" + r.To.String()
}

// anyIn reports whether one of codes lies within one of ranges.
func anyIn(codes []netip.Addr, ranges []Range) bool {
	for _, c := range codes {
		for _, r := range ranges {
			if r.Contains(c) {
				return true
			}
		}
	}
	return false
}
