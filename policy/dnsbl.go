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
// at connect. By default the refusal is given at each RCPT, as Postfix's
// smtpd_delay_reject does: a sending MTA refused at RCPT bounces the mail
// with the reply, which names the lists, while one refused at connect
// defers it and retries for days, and its sender never learns why. It
// also lets an exempt recipient (postmaster@) or an authenticated client
// through.
type DNSBLConfig struct {
	RuleCommon
	Zones     []DNSBLZone `toml:"zones"`     // no default: the lists are the company's choice
	Threshold int         `toml:"threshold"` // sum of the weights of the zones that list the client
	Resolver  string      `toml:"resolver"`  // "host:port"; "" = /etc/resolv.conf
	Timeout   Duration    `toml:"timeout"`   // all zones are queried in parallel within it
	RefuseAt  string      `toml:"refuse_at"` // "rcpt" (default) or "connect"

	zones []dnsbl.Zone
}

// DNSBLZone is one list of [rules.dnsbl].zones.
type DNSBLZone struct {
	Zone   string   `toml:"zone"`
	Weight *int     `toml:"weight"` // 1 when unset; negative for allow-lists
	Listed []string `toml:"listed"` // answer codes meaning "listed": "127.0.0.2", "127.0.0.2-127.0.0.11", "127.0.0.0/24"
}

// setDefaults: a DNSBL outage must not stop all mail (postscreen and rspamd
// fail open too), so on_error is accept.
func (c *DNSBLConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 554, Enhanced: "5.7.1", Text: "Service unavailable; client [{client_ip}] blocked using {zones}"})
	c.OnError = "accept"
	c.Zones = []DNSBLZone{}
	c.Threshold = 1
	c.Timeout = Duration(2 * time.Second)
	c.RefuseAt = "rcpt"
}

// derive gives each zone without a weight the weight 1.
func (c *DNSBLConfig) derive(func(string) bool) {
	for i := range c.Zones {
		if c.Zones[i].Weight == nil {
			one := 1
			c.Zones[i].Weight = &one
		}
		if c.Zones[i].Listed == nil {
			c.Zones[i].Listed = []string{}
		}
	}
}

func (c *DNSBLConfig) validate() []*ConfigError {
	var errs []*ConfigError
	if len(c.Zones) == 0 {
		errs = append(errs, &ConfigError{Key: "zones", Msg: "list at least one zone"})
	}
	c.zones = nil
	for _, z := range c.Zones {
		if strings.Trim(z.Zone, ".") == "" || strings.ContainsAny(z.Zone, " /:") {
			errs = append(errs, &ConfigError{Key: "zones", Msg: fmt.Sprintf("invalid zone name %q", z.Zone)})
		}
		zone := dnsbl.Zone{Name: strings.TrimSuffix(z.Zone, "."), Weight: *z.Weight}
		for _, l := range z.Listed {
			rg, err := dnsbl.ParseRange(l)
			if err != nil {
				errs = append(errs, &ConfigError{Key: "zones", Msg: fmt.Sprintf("zone %s: %v", z.Zone, err)})
				continue
			}
			zone.Listed = append(zone.Listed, rg)
		}
		c.zones = append(c.zones, zone)
	}
	if c.Timeout <= 0 {
		errs = append(errs, &ConfigError{Key: "timeout", Msg: "must be above zero"})
	}
	if c.RefuseAt != "rcpt" && c.RefuseAt != "connect" {
		errs = append(errs, &ConfigError{Key: "refuse_at", Msg: fmt.Sprintf("must be rcpt or connect, not %q", c.RefuseAt)})
	}
	if c.Threshold < 1 {
		errs = append(errs, &ConfigError{Key: "threshold", Msg: fmt.Sprintf("must be at least 1, not %d", c.Threshold)})
	}
	if c.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.Resolver); err != nil {
			errs = append(errs, &ConfigError{Key: "resolver", Msg: fmt.Sprintf("want HOST:PORT, not %q", c.Resolver)})
		}
	}
	return errs
}

// needs: the lists are asked through DNS.
func (c *DNSBLConfig) needs() Needs {
	return Needs{Stages: dnsblStages(c.RefuseAt == "rcpt"), Vars: []string{"zones", "txt"}, Network: true, Derive: true}
}

func (c *DNSBLConfig) build(env *Env) (Rule, error) {
	return &dnsblRule{
		resolver:  env.dnsbl(),
		zones:     c.zones,
		threshold: c.Threshold,
		opts:      dnsbl.Options{Server: c.Resolver, Timeout: c.Timeout.D()},
		atRcpt:    c.RefuseAt == "rcpt",
		log:       env.logger(),
	}, nil
}

// dnsblRule sums the weights of the lists that name the client at
// connect and refuses it, at connect or at each RCPT, when the sum
// reaches the threshold.
type dnsblRule struct {
	resolver  *dnsbl.Resolver
	zones     []dnsbl.Zone
	threshold int
	opts      dnsbl.Options
	atRcpt    bool
	log       *slog.Logger
}

func (r *dnsblRule) Name() string { return "dnsbl" }

// dnsblStages: the lookup is made at connect; refused at RCPT, the verdict
// is given there (the engine keeps it for the connection).
func dnsblStages(atRcpt bool) []Stage {
	if atRcpt {
		return []Stage{StageConnect, StageRcpt}
	}
	return []Stage{StageConnect}
}

// watch logs, once each, a zone that stops answering (WARN) and one that
// answers again (INFO). A lookup cut short by the client leaving, or
// answered outside the zone's codes, says nothing either way.
func (r *dnsblRule) watch(ctx context.Context, res dnsbl.Result) {
	if ctx.Err() != nil {
		return
	}
	for _, z := range res.Zones {
		if errors.Is(z.Err, dnsbl.ErrUnexpectedCode) {
			continue
		}
		if !r.resolver.ZoneAnswered(z.Zone, z.Err == nil) {
			continue
		}
		if z.Err != nil {
			r.log.Warn("dnsbl zone not answering: its listings do not count until it does", "zone", z.Zone, "error", z.Err.Error())
		} else {
			r.log.Info("dnsbl zone answers again", "zone", z.Zone)
		}
	}
}

// Check looks the client up in every zone at once. Lookup errors count
// only when the zones that failed could have reached the threshold; an
// answer outside a zone's codes (such as Spamhaus's 127.255.255.254 for a
// refused query) is logged and counts as "not listed".
func (r *dnsblRule) Check(ctx context.Context, stage Stage, m *Message) (Hit, error) {
	if stage != StageConnect || !m.Client.Addr.IsValid() {
		return Hit{}, nil
	}
	replyAt := StageConnect
	if r.atRcpt {
		replyAt = StageRcpt
	}
	res := r.resolver.Check(ctx, m.Client.Addr, r.zones, r.opts)
	r.watch(ctx, res)
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
			ReplyAt: replyAt,
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
