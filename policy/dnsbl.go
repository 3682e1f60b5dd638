package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/dnsbl"
)

// DNSBLConfig is [rules.dnsbl]: clients listed on DNS blocklists, decided
// at connect.
type DNSBLConfig struct {
	RuleCommon
	Zones     []DNSBLZone `toml:"zones"`
	Threshold int         `toml:"threshold"` // default 1
	Resolver  string      `toml:"resolver"`  // "host:port"; "" = /etc/resolv.conf
	Timeout   Duration    `toml:"timeout"`   // default 2s
}

// DNSBLZone is one list of [rules.dnsbl].zones.
type DNSBLZone struct {
	Zone   string   `toml:"zone"`
	Weight *int     `toml:"weight"` // default 1; negative for allow-lists
	Listed []string `toml:"listed"` // answer codes meaning "listed": "127.0.0.2", "127.0.0.2-127.0.0.11", "127.0.0.0/24"
}

func (c *DNSBLConfig) defaults() (Action, Reply) {
	return Reject, Reply{Code: 554, Enhanced: "5.7.1", Text: "Service unavailable; client [{client_ip}] blocked using {zones}"}
}

// onErrorDefault: a DNSBL outage must not stop all mail (postscreen and
// rspamd fail open too).
func (c *DNSBLConfig) onErrorDefault() string { return "accept" }

func (c *DNSBLConfig) check() []*ConfigError {
	var errs []*ConfigError
	if len(c.Zones) == 0 {
		errs = append(errs, &ConfigError{Key: "zones", Msg: "list at least one zone"})
	}
	for _, z := range c.Zones {
		if strings.Trim(z.Zone, ".") == "" || strings.ContainsAny(z.Zone, " /:") {
			errs = append(errs, &ConfigError{Key: "zones", Msg: fmt.Sprintf("invalid zone name %q", z.Zone)})
		}
		for _, l := range z.Listed {
			if _, err := dnsbl.ParseRange(l); err != nil {
				errs = append(errs, &ConfigError{Key: "zones", Msg: fmt.Sprintf("zone %s: %v", z.Zone, err)})
			}
		}
	}
	if c.Threshold < 0 {
		errs = append(errs, &ConfigError{Key: "threshold", Msg: "must not be negative"})
	}
	if c.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.Resolver); err != nil {
			errs = append(errs, &ConfigError{Key: "resolver", Msg: fmt.Sprintf("want HOST:PORT, not %q", c.Resolver)})
		}
	}
	return errs
}

func (c *DNSBLConfig) build(env *Env) (Rule, error) {
	r := &dnsblRule{resolver: env.dnsbl(), threshold: c.Threshold, log: env.logger()}
	if r.threshold == 0 {
		r.threshold = 1
	}
	r.opts = dnsbl.Options{Server: c.Resolver, Timeout: c.Timeout.D()}
	if r.opts.Timeout == 0 {
		r.opts.Timeout = 2 * time.Second
	}
	for _, z := range c.Zones {
		zone := dnsbl.Zone{Name: strings.TrimSuffix(z.Zone, "."), Weight: 1}
		if z.Weight != nil {
			zone.Weight = *z.Weight
		}
		for _, l := range z.Listed {
			rg, err := dnsbl.ParseRange(l)
			if err != nil {
				return nil, err
			}
			zone.Listed = append(zone.Listed, rg)
		}
		r.zones = append(r.zones, zone)
	}
	return r, nil
}

// dnsblRule sums the weights of the lists that name the client and
// refuses it at connect when the sum reaches the threshold.
type dnsblRule struct {
	resolver  *dnsbl.Resolver
	zones     []dnsbl.Zone
	threshold int
	opts      dnsbl.Options
	log       *slog.Logger
}

func (r *dnsblRule) Name() string    { return "dnsbl" }
func (r *dnsblRule) Stages() []Stage { return []Stage{StageConnect} }

// Check looks the client up in every zone at once. Lookup errors count
// only when the zones that failed could have reached the threshold; an
// answer outside a zone's codes (such as Spamhaus's 127.255.255.254 for a
// refused query) is logged and counts as "not listed".
func (r *dnsblRule) Check(ctx context.Context, _ Stage, m *Message) (Hit, error) {
	if !m.Client.Addr.IsValid() {
		return Hit{}, nil
	}
	res := r.resolver.Check(ctx, m.Client.Addr, r.zones, r.opts)
	if res.Score >= r.threshold {
		var names, txts []string
		for _, z := range res.Listed() {
			names = append(names, z.Zone)
			if z.TXT != "" {
				txts = append(txts, z.TXT)
			}
		}
		return Hit{
			Matched: true,
			Reason:  fmt.Sprintf("listed on %s (score %d, threshold %d) %s", strings.Join(names, ", "), res.Score, r.threshold, strings.Join(txts, "; ")),
			Vars:    map[string]string{"zones": strings.Join(names, ", "), "txt": strings.Join(txts, "; ")},
		}, nil
	}
	var failed []string
	missing := 0
	for _, z := range res.Errors() {
		if errors.Is(z.Err, dnsbl.ErrUnexpectedCode) {
			r.log.Warn("dnsbl zone answered outside its codes; counted as not listed", "zone", z.Zone, "client_ip", m.Client.Addr.String(), "error", z.Err.Error())
			continue
		}
		failed = append(failed, z.Zone+": "+z.Err.Error())
		if z.Weight > 0 {
			missing += z.Weight
		}
	}
	if len(failed) > 0 && res.Score+missing >= r.threshold {
		return Hit{}, fmt.Errorf("dnsbl lookups failed: %s", strings.Join(failed, "; "))
	}
	return Hit{}, nil
}
