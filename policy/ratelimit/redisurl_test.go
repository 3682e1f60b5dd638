package ratelimit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseRedisURLForms(t *testing.T) {
	for _, tt := range []struct {
		url      string
		topology string
		addrs    []string
		user, pw string
		master   string
		db       int
		sUser    string
		sPw      string
		tls      bool
	}{
		{url: "redis+sentinel://s1:26379,s2:26380,s3/mymaster/2", topology: RedisSentinel,
			addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, master: "mymaster", db: 2},
		{url: "redis+sentinel://app:m%40ster@[::1]:26379,[fe80::1]/my%20master/?sentinel_password=s%2Bpw", topology: RedisSentinel,
			addrs: []string{"[::1]:26379", "[fe80::1]:26379"}, user: "app", pw: "m@ster", master: "my master", sPw: "s+pw"},
		{url: "rediss+sentinel://:pw@s1:26379/mymaster?sentinel_username=sen&sentinel_password=spw", topology: RedisSentinel,
			addrs: []string{"s1:26379"}, pw: "pw", master: "mymaster", sUser: "sen", sPw: "spw", tls: true},
		{url: "REDIS+SENTINEL://s1/m", topology: RedisSentinel, addrs: []string{"s1:26379"}, master: "m"},
		{url: "redis+cluster://n1:7000,n2:7001,n3:7002", topology: RedisCluster,
			addrs: []string{"n1:7000", "n2:7001", "n3:7002"}},
		{url: "redis+cluster://n1", topology: RedisCluster, addrs: []string{"n1:6379"}},
		{url: "rediss+cluster://u:p:w@n1:7000/0", topology: RedisCluster, addrs: []string{"n1:7000"}, user: "u", pw: "p:w", tls: true},
		{url: "redis+cluster://n1:7000/", topology: RedisCluster, addrs: []string{"n1:7000"}},
	} {
		c, err := ParseRedisURL(tt.url)
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", tt.url, err)
			continue
		}
		o := c.Universal
		if c.Topology != tt.topology || c.Node != nil || o == nil {
			t.Errorf("%q: topology %q, node %v", tt.url, c.Topology, c.Node)
			continue
		}
		got := []any{o.Addrs, o.Username, o.Password, o.MasterName, o.DB, o.SentinelUsername, o.SentinelPassword, o.TLSConfig != nil, o.IsClusterMode}
		want := []any{tt.addrs, tt.user, tt.pw, tt.master, tt.db, tt.sUser, tt.sPw, tt.tls, tt.topology == RedisCluster}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %v\nwant %v", tt.url, got, want)
		}
		if o.TLSConfig != nil && o.TLSConfig.ServerName != "" {
			t.Errorf("%q: TLS ServerName %q: each node must be checked under its own name", tt.url, o.TLSConfig.ServerName)
		}
	}
	for _, u := range []string{"redis://127.0.0.1:6379/3", "rediss://:pw@h/0", "unix:///run/redis.sock?db=1"} {
		c, err := ParseRedisURL(u)
		if err != nil || c.Topology != RedisNode || c.Node == nil || c.Universal != nil {
			t.Errorf("ParseRedisURL(%q) = %+v, %v; want one server", u, c, err)
		}
	}
}

// TestParseRedisURLErrors: each bad form is refused with a message that
// says what is wrong and never shows the password.
func TestParseRedisURLErrors(t *testing.T) {
	for url, want := range map[string]string{
		"memcached://h:11211":                                      "want a URL of scheme redis://",
		"redis+sentinel://:s3cret@s1:26379":                        "no master name",
		"redis+sentinel://:s3cret@s1:26379/":                       "no master name",
		"redis+sentinel://s1:26379/0?sentinel_password=s3cret&x=1": `unknown parameter "x"`,
		"redis+sentinel://s1/m/x":                                  `invalid database number "x"`,
		"redis+sentinel://s1/m/-1":                                 `invalid database number "-1"`,
		"redis+sentinel://s1/m/0/1":                                `want /MASTER or /MASTER/DB`,
		"redis+sentinel://s1/m?sentinel_username=u":                "sentinel_username needs sentinel_password",
		"redis+sentinel://:s3cret@s1:26379,redis://s2:26379/m":     "not redis:// again",
		"redis+cluster://:s3cret@n1:7000,rediss://n2:7001":         "not rediss:// again",
		"redis+cluster://n1:7000,redis+sentinel://n2:7001":         "not redis+sentinel:// again",
		"redis+cluster://:s3cret@n1:7000/1":                        "database 0 only",
		"redis+cluster://n1:7000/mymaster":                         "database 0 only",
		"redis+cluster://n1:7000?read_only=true":                   `unknown parameter "read_only"`,
		"redis+cluster://:s3cret@":                                 "no host",
		"redis+cluster://n1:7000,,n2:7001":                         "empty host",
		"redis+cluster://n1:x":                                     `invalid port "x"`,
		"redis+cluster://n1:70000":                                 `invalid port "70000"`,
		"redis+cluster://n1:":                                      `invalid port ""`,
		"redis+cluster://::1:7000":                                 "IPv6 address in brackets",
		"redis+cluster://n1:7000#frag":                             "%23",
		"redis+cluster://:s3%zzcret@n1:7000":                       "invalid %-escape in the password",
		"redis://:s3cret@h1:6379,h2:6379/0":                        "use redis+cluster://",
		"redis://:s3cret@127.0.0.1:bad/0":                          "invalid port",
		"redis://:s3%zzcret@127.0.0.1:6379/0":                      "invalid URL escape",
	} {
		_, err := ParseRedisURL(url)
		if err == nil {
			t.Errorf("ParseRedisURL(%q) accepted it", url)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRedisURL(%q) = %v, want %q", url, err, want)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "cret") {
			t.Errorf("ParseRedisURL(%q) shows the password: %v", url, err)
		}
	}
}

func TestIsRedisURL(t *testing.T) {
	for url, want := range map[string]bool{
		"redis://h": true, "rediss+cluster://h": true, "Redis+Sentinel://h/m": true, "unix:///s": true,
		"memory": false, "memcached://h": false, "redis": false, "redis+ring://h": false, "redis+cluster:/h": false,
	} {
		if got := IsRedisURL(url); got != want {
			t.Errorf("IsRedisURL(%q) = %v", url, got)
		}
	}
}

// TestNewRedisClients: each form gets the client of its topology, with the
// options the store relies on, whatever go-redis derives from them.
func TestNewRedisClients(t *testing.T) {
	for url, want := range map[string]string{
		"redis://127.0.0.1:1/0":                   "*redis.Client",
		"redis+sentinel://127.0.0.1:1/m":          "*redis.Client", // a failover client
		"redis+cluster://127.0.0.1:1,127.0.0.1:2": "*redis.ClusterClient",
		"redis+cluster://127.0.0.1:1":             "*redis.ClusterClient",
	} {
		r, err := NewRedis(url, "", 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if got := reflect.TypeOf(r.client).String(); got != want {
			t.Errorf("%s: client %s, want %s", url, got, want)
		}
		switch c := r.client.(type) {
		case *redis.ClusterClient:
			o := c.Options()
			if o.MaxRedirects != maxRedirects || o.MaxRetries != -1 || o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
				t.Errorf("%s: MaxRedirects %d, MaxRetries %d, ReadOnly %v: redirects must be followed, replicas never read",
					url, o.MaxRedirects, o.MaxRetries, o.ReadOnly)
			}
			if o.DialTimeout != 300*time.Millisecond || o.ReadTimeout != 300*time.Millisecond || !o.ContextTimeoutEnabled {
				t.Errorf("%s: timeouts %v %v", url, o.DialTimeout, o.ReadTimeout)
			}
		case *redis.Client:
			o := c.Options()
			if o.MaxRetries != 0 && o.MaxRetries != -1 || o.DialTimeout != 300*time.Millisecond || !o.ContextTimeoutEnabled {
				t.Errorf("%s: MaxRetries %d, DialTimeout %v", url, o.MaxRetries, o.DialTimeout)
			}
		}
		r.Close()
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:s3cret@127.0.0.1:6379/0":                                       "redis://:xxxxx@127.0.0.1:6379/0",
		"rediss://user:s3cret@h:6380/1":                                          "rediss://user:xxxxx@h:6380/1",
		"redis://:s3cret@127.0.0.1:bad/0":                                        "redis://:xxxxx@127.0.0.1:bad/0",
		"redis://127.0.0.1:6379/0":                                               "redis://127.0.0.1:6379/0",
		"redis://user@h/0":                                                       "redis://user@h/0",
		"unix://:s3cret@/run/redis/redis.sock?db=1":                              "unix://:xxxxx@/run/redis/redis.sock?db=1",
		"redis+sentinel://app:s3cret@s1:26379,s2:26379,s3:26379/mymaster/0":      "redis+sentinel://app:xxxxx@s1:26379,s2:26379,s3:26379/mymaster/0",
		"rediss+sentinel://s1,s2/m?sentinel_username=u&sentinel_password=s3cret": "rediss+sentinel://s1,s2/m?sentinel_username=u&sentinel_password=xxxxx",
		"redis+sentinel://:s3cret@s1/m?sentinel_password=s3cret&x=1":             "redis+sentinel://:xxxxx@s1/m?sentinel_password=xxxxx&x=1",
		"redis+sentinel://s1/m?SENTINEL_PASSWORD=s3@cr/et":                       "redis+sentinel://s1/m?SENTINEL_PASSWORD=xxxxx",
		"redis+cluster://:s3cret@n1:7000,n2:7001":                                "redis+cluster://:xxxxx@n1:7000,n2:7001",
		"rediss+cluster://u:s3cret@n1:7000":                                      "rediss+cluster://u:xxxxx@n1:7000",
		"redis+cluster://n1:7000,n2:7001":                                        "redis+cluster://n1:7000,n2:7001",
		// Passwords whose "/", "?" or "@" were not escaped are hidden whole.
		"redis://:s3/cr@et@h:6379/0":  "redis://:xxxxx@h:6379/0",
		"redis://:s3?cret@h:6379/0":   "redis://:xxxxx@h:6379/0",
		"redis+cluster://:s3#c@n1:70": "redis+cluster://:xxxxx@n1:70",
		"not a url at all":            "not a url at all",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	for _, u := range []string{"redis://:s3cret@127.0.0.1:bad/0", "redis://u:s3cret@[::1:6379/0", "redis://:s3cret@h/x",
		"redis://:s3/cret@h/0", "redis+cluster://:s3cret@n1:bad"} {
		if _, err := ParseRedisURL(u); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "cret") {
			t.Errorf("ParseRedisURL(%q): %v", u, err)
		}
	}
}
