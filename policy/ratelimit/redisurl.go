package ratelimit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Redis topologies a store URL names.
const (
	RedisNode     = "node"     // one server: redis://, rediss://, unix://
	RedisSentinel = "sentinel" // a master found through Sentinel: redis+sentinel://, rediss+sentinel://
	RedisCluster  = "cluster"  // Redis Cluster: redis+cluster://, rediss+cluster://
)

// Default ports when a host of a list has none.
const (
	defaultRedisPort    = "6379"
	defaultSentinelPort = "26379"
)

// RedisSchemes lists the URL schemes a Redis store takes, for messages.
const RedisSchemes = "redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://"

// RedisConfig is a parsed store URL: the topology and the client options
// it gives. Timeouts and retries are not set here: NewRedis sets them.
type RedisConfig struct {
	Topology string // RedisNode, RedisSentinel or RedisCluster
	// Node holds the options of a single server (as redis.ParseURL
	// reads its URL); nil for the other topologies.
	Node *redis.Options
	// Universal holds the options of a Sentinel or Cluster client; nil
	// for a single server.
	Universal *redis.UniversalOptions
}

// IsRedisURL reports whether store has the scheme of a Redis store URL,
// valid or not: a configuration tells a Redis store from a typo with it.
func IsRedisURL(store string) bool {
	scheme, _, ok := strings.Cut(store, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
		return true
	}
	return false
}

// ParseRedisURL reads a store URL. It takes three forms:
//
//	redis://[USER:PASSWORD@]HOST[:PORT][/DB]      one server, as redis.ParseURL reads it
//	rediss://...                                  (with TLS), unix://[USER:PASSWORD@]/PATH[?db=DB]
//	redis+sentinel://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB][?sentinel_username=U&sentinel_password=P]
//	redis+cluster://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]
//
// and rediss+sentinel:// and rediss+cluster:// for TLS. The user and
// password are those of the servers that hold the counts (the master and
// replicas, or the cluster's nodes); a Sentinel that wants a password of
// its own gets sentinel_password. A list's host without a port has 26379
// (Sentinel) or 6379 (Cluster). An error never shows a password.
func ParseRedisURL(rawURL string) (*RedisConfig, error) {
	fail := func(format string, args ...any) (*RedisConfig, error) {
		return nil, &URLError{URL: Redact(rawURL), Reason: fmt.Sprintf(format, args...)}
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || !IsRedisURL(rawURL) {
		return fail("want a URL of scheme %s", RedisSchemes)
	}
	scheme = strings.ToLower(scheme)
	// Every server of one store is reached the same way: a second scheme
	// in the URL is a list written for some other client.
	if i := strings.Index(rest, "://"); i >= 0 {
		other := rest[:i]
		if j := strings.LastIndexAny(other, ",/@"); j >= 0 {
			other = other[j+1:]
		}
		return fail("one scheme for the whole URL, not %s:// again inside it; list hosts as HOST:PORT,HOST:PORT", other)
	}
	if strings.Contains(rest, "#") {
		return fail("a # must be written %%23")
	}
	base, _, _ := strings.Cut(scheme, "+")
	topology := RedisNode
	switch {
	case strings.HasSuffix(scheme, "+sentinel"):
		topology = RedisSentinel
	case strings.HasSuffix(scheme, "+cluster"):
		topology = RedisCluster
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	var userinfo, hostList string
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hostList = authority[:i], authority[i+1:]
	} else {
		hostList = authority
	}
	if topology == RedisNode {
		if base != "unix" && strings.Contains(hostList, ",") {
			return fail("one server takes one host; for several, use redis+cluster:// (Redis Cluster) or redis+sentinel:// (Sentinel)")
		}
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			return fail("%s", redactIn(err.Error(), rawURL))
		}
		return &RedisConfig{Topology: RedisNode, Node: opts}, nil
	}

	user, password, err := splitUserinfo(userinfo)
	if err != nil {
		return fail("%v", err)
	}
	port := defaultRedisPort
	if topology == RedisSentinel {
		port = defaultSentinelPort
	}
	addrs, err := hostPorts(hostList, port)
	if err != nil {
		return fail("%v", err)
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fail("invalid query %q", redactQuery(rawQuery))
	}
	opts := &redis.UniversalOptions{Addrs: addrs, Username: user, Password: password}
	if base == "rediss" {
		// No ServerName: each server's certificate is checked against
		// the host it is dialled at, the seed's or the one the cluster or
		// Sentinel names, not all against the first host of the list.
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: rootCAs}
	}
	switch topology {
	case RedisSentinel:
		segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
		if len(segs) > 0 && segs[len(segs)-1] == "" {
			segs = segs[:len(segs)-1] // a trailing slash
		}
		if len(segs) == 0 || segs[0] == "" {
			return fail("no master name: want %s://HOST:PORT[,HOST:PORT...]/MASTER[/DB]", scheme)
		}
		if len(segs) > 2 {
			return fail("path %q: want /MASTER or /MASTER/DB", path)
		}
		if opts.MasterName, err = url.PathUnescape(segs[0]); err != nil || strings.TrimSpace(opts.MasterName) == "" {
			return fail("invalid master name %q", segs[0])
		}
		if len(segs) == 2 {
			if opts.DB, err = strconv.Atoi(segs[1]); err != nil || opts.DB < 0 {
				return fail("invalid database number %q", segs[1])
			}
		}
		opts.SentinelUsername = query.Get("sentinel_username")
		opts.SentinelPassword = query.Get("sentinel_password")
		if opts.SentinelUsername != "" && opts.SentinelPassword == "" {
			return fail("sentinel_username needs sentinel_password")
		}
		query.Del("sentinel_username")
		query.Del("sentinel_password")
	case RedisCluster:
		switch path {
		case "", "/", "/0":
		default:
			return fail("path %q: Redis Cluster has database 0 only, and no master name", path)
		}
		opts.IsClusterMode = true // a single seed host is a cluster too
	}
	if len(query) > 0 {
		name := slices.Sorted(maps.Keys(query))[0]
		return fail("unknown parameter %q: %s:// takes %s", name, scheme, knownParams[topology])
	}
	return &RedisConfig{Topology: topology, Universal: opts}, nil
}

// URLError is a store URL that ParseRedisURL refuses.
type URLError struct {
	URL    string // the URL without its passwords
	Reason string // what is wrong, without the passwords
}

func (e *URLError) Error() string { return "ratelimit: redis url " + e.URL + ": " + e.Reason }

var knownParams = map[string]string{
	RedisSentinel: "sentinel_username and sentinel_password only",
	RedisCluster:  "no parameters",
}

// rootCAs are the certificate authorities TLS connections trust; nil for
// the system's. Tests set it to an authority of their own.
var rootCAs *x509.CertPool

// splitUserinfo decodes USER:PASSWORD; the error never quotes the password.
func splitUserinfo(userinfo string) (user, password string, err error) {
	if userinfo == "" {
		return "", "", nil
	}
	u, p, _ := strings.Cut(userinfo, ":")
	if user, err = url.PathUnescape(u); err != nil {
		return "", "", fmt.Errorf("invalid %%-escape in the user name")
	}
	if password, err = url.PathUnescape(p); err != nil {
		return "", "", fmt.Errorf("invalid %%-escape in the password")
	}
	return user, password, nil
}

// hostPorts reads a comma-separated list of HOST[:PORT] ([V6]:PORT for
// an IPv6 address), giving port to a host without one.
func hostPorts(list, port string) ([]string, error) {
	if list == "" {
		return nil, fmt.Errorf("no host: want HOST:PORT[,HOST:PORT...]")
	}
	var addrs []string
	for _, hp := range strings.Split(list, ",") {
		if hp == "" {
			return nil, fmt.Errorf("empty host in the list %q", list)
		}
		h, p := hp, port
		if strings.HasPrefix(hp, "[") || strings.Count(hp, ":") == 1 {
			var err error
			if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
				h = hp[1 : len(hp)-1]
			} else if h, p, err = net.SplitHostPort(hp); err != nil {
				return nil, fmt.Errorf("host %q: want HOST:PORT", hp)
			}
		} else if strings.Contains(hp, ":") {
			return nil, fmt.Errorf("host %q: write an IPv6 address in brackets, [ADDRESS]:PORT", hp)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("host %q: invalid port %q", hp, p)
		}
		if h == "" || strings.ContainsAny(h, " /?@[]") {
			return nil, fmt.Errorf("host %q: invalid host name", hp)
		}
		addrs = append(addrs, net.JoinHostPort(h, p))
	}
	return addrs, nil
}

// userinfoRE matches a URL's scheme and user, and the password up to the
// last "@": a password whose "/", "?" or "@" was not %-escaped is hidden
// whole. A URL with an "@" in a parameter may lose more than its password
// in a log line, never less.
var userinfoRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/?]*):(.*)@`)

// passwordParamRE matches a query parameter whose name holds "password",
// such as sentinel_password, with its value.
var passwordParamRE = regexp.MustCompile(`(?i)([?&][^=&?]*password[^=&]*=)[^&]*`)

// escapeRE matches a URL parser's complaint about a %-escape, which quotes
// the bad escape and so a piece of whatever held it.
var escapeRE = regexp.MustCompile(`invalid URL escape "[^"]*"`)

// Redact returns a URL for logs: its passwords, in the user information
// or in parameters such as sentinel_password, are replaced by "xxxxx",
// whether the URL parses or not.
func Redact(rawURL string) string {
	return userinfoRE.ReplaceAllString(passwordParamRE.ReplaceAllString(rawURL, "${1}xxxxx"), "${1}:xxxxx@")
}

// redactQuery redacts the password parameters of a URL's query part.
func redactQuery(q string) string {
	return passwordParamRE.ReplaceAllString("?"+q, "${1}xxxxx")[1:]
}

// redactIn replaces, in a message such as a URL parser's error, rawURL by
// its redacted form, and the password as written wherever else it shows.
func redactIn(msg, rawURL string) string {
	msg = strings.ReplaceAll(msg, rawURL, Redact(rawURL))
	if m := userinfoRE.FindStringSubmatch(passwordParamRE.ReplaceAllString(rawURL, "${1}xxxxx")); m != nil && m[2] != "" {
		msg = strings.ReplaceAll(msg, m[2], "xxxxx")
		msg = escapeRE.ReplaceAllString(msg, "invalid URL escape")
	}
	return msg
}
