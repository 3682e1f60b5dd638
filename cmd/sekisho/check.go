package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/pelletier/go-toml/v2"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/clamd"
	"github.com/sekisho/sekisho/policy/history/console"
	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/webconfig"
)

// What -check does beyond building the engine, and what the daemon says
// at start: the local things the daemon will do are tried the same way and
// fail with the same error; the services it will use (clamd, Redis, the
// DNSBL resolver) are asked whether they answer, which is only ever a
// warning, since they may come up later and each rule has its on_error.

// consoleWarnings names the console's held-mail commands whose program
// cannot be found: the held list or its actions would fail on the page.
func consoleWarnings(c policy.ConsoleConfig) []string {
	if c.Listen == "" {
		return nil
	}
	var out []string
	for _, k := range []struct {
		key string
		cmd []string
	}{{"queue_command", c.QueueCommand}, {"release_command", c.ReleaseCommand}, {"flush_command", c.FlushCommand}, {"delete_command", c.DeleteCommand}} {
		if len(k.cmd) == 0 {
			continue
		}
		if _, err := exec.LookPath(k.cmd[0]); err != nil {
			out = append(out, fmt.Sprintf("console.%s: %s is not found: held mail cannot be %s from the console (set it, or [] to turn it off)",
				k.key, k.cmd[0], map[string]string{"queue_command": "listed", "release_command": "released", "flush_command": "delivered at once after a release", "delete_command": "deleted"}[k.key]))
		}
	}
	return append(out, heldCommandWarnings(c)...)
}

// localErrors tries, without opening the milter socket, what opening it
// and spooling archives will need: the socket's directory, the group
// chown, the temp_dir; and reads the web configurations of the metrics
// endpoint and the console. Each error reads as the daemon's would.
func localErrors(cfg *policy.Config) []error {
	var errs []error
	if err := trySocket(cfg); err != nil {
		errs = append(errs, err)
	}
	if err := webconfig.Validate(cfg.Metrics.WebConfig); err != nil {
		errs = append(errs, fmt.Errorf("metrics.web_config: %w", err))
	}
	if cfg.Console.Listen != "" {
		if err := console.CheckAccess(cfg.Console.Listen, cfg.Console.WebConfig); err != nil {
			errs = append(errs, fmt.Errorf("console.web_config: %w", err))
		}
	}
	dir := cfg.Inspect.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, ".sekisho-check-")
	if err != nil {
		errs = append(errs, fmt.Errorf("inspect.temp_dir: %w", err))
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	return errs
}

// trySocket does in the socket's directory what listenOn will do to the
// socket, on a file of its own: create it, give it socket_mode and
// socket_group. A file already at the path must be a socket (the running
// daemon's, or a stale one listenOn removes).
func trySocket(cfg *policy.Config) error {
	network, path, err := policy.ParseListen(cfg.Listen)
	if err != nil || network != "unix" {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket (%s): not removed; remove it or choose another listen path", path, fileKind(fi))
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".sekisho-check-")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("listen unix %s: cannot create the socket in %s: %w", path, filepath.Dir(path), err)
	}
	f.Close()
	defer os.Remove(f.Name())
	mode, _ := strconv.ParseUint(cfg.SocketMode, 8, 32)
	if err := os.Chmod(f.Name(), os.FileMode(mode)); err != nil {
		return err
	}
	if cfg.SocketGroup == "" {
		return nil
	}
	gid, err := lookupGroup(cfg.SocketGroup)
	if err != nil {
		return err
	}
	if err := os.Chown(f.Name(), -1, gid); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The daemon's words: its chown is of the socket's path.
			err = &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
		}
		return fmt.Errorf("socket_group %s: %w", cfg.SocketGroup, err)
	}
	return nil
}

// fileWarnings is what is wrong with the configuration file's permissions:
// writable by others than its owner (who can write it sets the policy), or
// readable by every user while it holds a password.
func fileWarnings(cfg *policy.Config) []string {
	if cfg.File == "" {
		return nil
	}
	fi, err := os.Stat(cfg.File)
	if err != nil {
		return nil
	}
	perm := fi.Mode().Perm()
	var out []string
	if perm&0o022 != 0 {
		who := "its group"
		switch {
		case perm&0o022 == 0o022:
			who = "its group and every user"
		case perm&0o002 != 0:
			who = "every user"
		}
		out = append(out, fmt.Sprintf("%s is writable by %s (mode %04o): whoever can write it sets the mail policy; chmod go-w %s", cfg.File, who, perm, cfg.File))
	}
	if perm&0o004 != 0 {
		if keys := secretKeys(cfg); len(keys) > 0 {
			out = append(out, fmt.Sprintf("%s is readable by every user (mode %04o) and holds a password (%s): chmod o-r %s, and give it the group sekisho runs as", cfg.File, perm, strings.Join(keys, ", "), cfg.File))
		}
	}
	return out
}

// service is one server a rule of the configuration talks to.
type service struct {
	kind    string // clamd, redis, dns
	addr    string // as written, passwords redacted
	key     string // where in the configuration
	timeout time.Duration
	probe   func(ctx context.Context) error
}

// maxProbe bounds each probe, whatever the rule's own timeout.
const maxProbe = 5 * time.Second

// configTree is the configuration in force as -print-config writes it:
// every rule table with its defaults, stores as URLs, [[policy]] blocks
// with their own rules.
func configTree(cfg *policy.Config) (map[string]any, error) {
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	if err := toml.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	return tree, nil
}

// walkTables calls f with every table of tree and its dotted key.
func walkTables(key string, v any, f func(key string, t map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(key, v)
		names := make([]string, 0, len(v))
		for k := range v {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			sub := k
			if key != "" {
				sub = key + "." + k
			}
			walkTables(sub, v[k], f)
		}
	case []any:
		for i, e := range v {
			walkTables(fmt.Sprintf("%s[%d]", key, i), e, f)
		}
	}
}

// secretKeys names the keys of the configuration that hold a secret: store
// URLs with a password, and rate_limit's key_secret.
func secretKeys(cfg *policy.Config) []string {
	tree, err := configTree(cfg)
	if err != nil {
		return nil
	}
	var keys []string
	walkTables("", tree, func(key string, t map[string]any) {
		if s, ok := t["store"].(string); ok && ratelimit.Redact(s) != s {
			keys = append(keys, key+".store")
		}
		if s, ok := t["key_secret"].(string); ok && s != "" {
			keys = append(keys, key+".key_secret")
		}
	})
	return keys
}

// services lists the servers the enabled rules will talk to, each once.
func services(cfg *policy.Config) []service {
	tree, err := configTree(cfg)
	if err != nil {
		return nil
	}
	var out []service
	seen := map[string]bool{}
	add := func(s service) {
		if id := s.kind + " " + s.addr; !seen[id] {
			seen[id] = true
			out = append(out, s)
		}
	}
	walkTables("", tree, func(key string, t map[string]any) {
		if on, ok := t["enabled"].(bool); !ok || !on {
			return
		}
		timeout := maxProbe
		if s, ok := t["timeout"].(string); ok {
			if d, err := time.ParseDuration(s); err == nil && d > 0 && d < timeout {
				timeout = d
			}
		}
		name := key[strings.LastIndex(key, ".")+1:]
		if addr, ok := t["address"].(string); ok && name == "virus" {
			c, err := clamd.Parse(addr)
			if err == nil {
				add(service{kind: "clamd", addr: addr, key: key + ".address", timeout: timeout, probe: c.Ping})
			}
		}
		if store, ok := t["store"].(string); ok && store != "memory" {
			add(service{kind: "redis", addr: ratelimit.Redact(store), key: key + ".store", timeout: timeout, probe: func(ctx context.Context) error {
				r, err := ratelimit.NewRedis(store, "", timeout)
				if err != nil {
					return err
				}
				defer r.Close()
				return r.Client().Ping(ctx).Err()
			}})
		}
		if zones, ok := t["zones"].([]any); ok && name == "dnsbl" && len(zones) > 0 {
			resolver, _ := t["resolver"].(string)
			for i, z := range zones {
				zt, _ := z.(map[string]any)
				zone, _ := zt["zone"].(string)
				if zone == "" {
					continue
				}
				add(service{kind: "dns", addr: zone + " via " + orSystem(resolver), key: fmt.Sprintf("%s.zones[%d]", key, i), timeout: timeout, probe: func(ctx context.Context) error {
					return probeZone(ctx, resolver, zone, timeout)
				}})
			}
		}
	})
	return out
}

func orSystem(resolver string) string {
	if resolver == "" {
		return "the first nameserver of /etc/resolv.conf"
	}
	return resolver
}

// probeZone asks the resolver for the test entry every DNSBL lists
// (127.0.0.2, RFC 5782 section 5): any answer but SERVFAIL or REFUSED
// shows the resolver serves the zone.
func probeZone(ctx context.Context, resolver, zone string, timeout time.Duration) error {
	server := resolver
	if server == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return err
		}
		if len(cc.Servers) == 0 {
			return errors.New("no nameserver in /etc/resolv.conf")
		}
		server = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn("2.0.0.127."+zone), dns.TypeA)
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return fmt.Errorf("%s answered %s", server, dns.RcodeToString[r.Rcode])
	}
	return nil
}

// serviceError is a service that did not answer.
type serviceError struct {
	service
	err error
}

func (e serviceError) Error() string {
	return fmt.Sprintf("%s %s (%s) does not answer: %v", e.kind, e.addr, e.key, e.err)
}

// probeServices asks every service at once and returns those that did not
// answer, in the configuration's order.
func probeServices(cfg *policy.Config) []serviceError {
	list := services(cfg)
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			errs[i] = s.probe(ctx)
		})
	}
	wg.Wait()
	var out []serviceError
	for i, err := range errs {
		if err != nil {
			out = append(out, serviceError{list[i], err})
		}
	}
	return out
}
