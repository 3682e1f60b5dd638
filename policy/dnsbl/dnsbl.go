// Package dnsbl looks up a client IP address in DNS blocklists and
// allow-lists (RFC 5782), in parallel across zones, with a shared cache.
//
// A Resolver answers, for each zone, whether the address is listed, with the
// answer codes and the TXT reason, or why the lookup failed. Positive and
// negative answers are cached for their TTL (RFC 2308 for negative ones);
// failures (SERVFAIL, REFUSED, timeouts) are never cached and never count as
// listed. It knows nothing of milter, of SMTP replies or of what a listing
// should lead to: the rule that uses it sums the weights and decides.
package dnsbl

import (
	"errors"
	"net/netip"
	"strings"
	"time"
)

// DefaultTimeout bounds a whole Check when Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

var (
	// ErrUnexpectedCode means every answer code lay outside the zone's Listed
	// ranges, as with Spamhaus's 127.255.255.254 for queries from a public resolver.
	ErrUnexpectedCode = errors.New("dnsbl: answer code outside the listed ranges")
	// ErrRcode means the server answered with an rcode other than NOERROR or NXDOMAIN.
	ErrRcode = errors.New("dnsbl: error rcode")
	// ErrTimeout means no answer came within the time allowed.
	ErrTimeout = errors.New("dnsbl: timeout")
)

// Zone is one DNS list to query.
type Zone struct {
	// Name is the list's zone, such as "zen.spamhaus.org".
	Name string
	// Weight is added to the score when the address is listed; negative for allow-lists.
	Weight int
	// Listed holds the answer codes that mean "listed"; empty means
	// 127.0.0.0/8 minus 127.255.255.0/24.
	Listed []Range
}

// Options says which server to ask and how long to wait.
type Options struct {
	// Server is the recursive resolver as "host:port"; empty means the first
	// nameserver of /etc/resolv.conf.
	Server string
	// Timeout bounds the whole Check, all zones together; zero means DefaultTimeout.
	Timeout time.Duration
}

// ZoneResult is the outcome of one zone's lookup.
type ZoneResult struct {
	// Zone is the zone's name as configured.
	Zone string
	// Weight is the zone's weight as configured.
	Weight int
	// Listed is true when an answer code lies within the zone's Listed ranges; never with Err.
	Listed bool
	// Codes holds every A record returned, even outside Listed; shared with the cache, read only.
	Codes []netip.Addr
	// TXT is the list's reason, fetched only when listed, best-effort.
	TXT string
	// Err is why the lookup failed: ErrRcode, ErrTimeout, a network error, or ErrUnexpectedCode.
	Err error
	// Cached is true when the answer came from the cache.
	Cached bool
}

// Result is the outcome of a Check, one ZoneResult per zone in the order given.
type Result struct {
	// Zones holds one result per zone queried.
	Zones []ZoneResult
	// Score is the sum of the weights of the listed zones.
	Score int
}

// Listed returns the results of the zones that list the address.
func (r Result) Listed() []ZoneResult {
	var out []ZoneResult
	for _, z := range r.Zones {
		if z.Listed {
			out = append(out, z)
		}
	}
	return out
}

// Errors returns the results of the zones whose lookup failed.
func (r Result) Errors() []ZoneResult {
	var out []ZoneResult
	for _, z := range r.Zones {
		if z.Err != nil {
			out = append(out, z)
		}
	}
	return out
}

// QueryName returns the name to query for ip in zone (RFC 5782 section 2):
// "4.3.2.1.zone." for IPv4, including IPv4-mapped IPv6 addresses, and 32
// nibble labels in reverse order for IPv6. It returns "" for an invalid ip.
func QueryName(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return ""
	}
	zone = strings.TrimSuffix(zone, ".")
	var b []byte
	if ip.Is4() {
		a := ip.As4()
		b = make([]byte, 0, 17+len(zone))
		for i := 3; i >= 0; i-- {
			b = appendByte(b, a[i])
			b = append(b, '.')
		}
	} else {
		const hex = "0123456789abcdef"
		a := ip.As16()
		b = make([]byte, 0, 65+len(zone))
		for i := 15; i >= 0; i-- {
			b = append(b, hex[a[i]&0xf], '.', hex[a[i]>>4], '.')
		}
	}
	if zone != "" {
		b = append(b, zone...)
		b = append(b, '.')
	}
	return string(b)
}

// appendByte appends the decimal form of v.
func appendByte(b []byte, v byte) []byte {
	if v >= 100 {
		b = append(b, '0'+v/100)
	}
	if v >= 10 {
		b = append(b, '0'+v/10%10)
	}
	return append(b, '0'+v%10)
}

// normZone returns the zone name in the form used for cache keys.
func normZone(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
