package policy

import (
	"strings"
	"testing"
)

// TestRateLimitStoreForms: each way of writing store names the URL the
// Redis client is made from; a table stands for the URL it names.
func TestRateLimitStoreForms(t *testing.T) {
	for _, tt := range []struct{ name, store, want string }{
		{"default", "", "memory"},
		{"memory", `store = "memory"`, "memory"},
		{"one server", `store = "redis://:pw@127.0.0.1:6379/2"`, "redis://:pw@127.0.0.1:6379/2"},
		{"sentinel url", `store = "redis+sentinel://app:pw@s1:26379,s2/mymaster/0"`, "redis+sentinel://app:pw@s1:26379,s2/mymaster/0"},
		{"cluster url", `store = "rediss+cluster://n1:7000,n2:7001"`, "rediss+cluster://n1:7000,n2:7001"},
		{"sentinel table",
			`store = { sentinels = ["s1:26379", "s2:26379", "s3"], master_name = "my master", db = 1, password = "p@ss/w:rd" }`,
			"redis+sentinel://:p%40ss%2Fw%3Ard@s1:26379,s2:26379,s3/my%20master/1"},
		{"sentinel table with sentinel password and tls",
			`store = { sentinels = ["s1:26379"], master_name = "m", username = "app", password = "pw", sentinel_username = "sen", sentinel_password = "s&p w", tls = true }`,
			"rediss+sentinel://app:pw@s1:26379/m/0?sentinel_password=s%26p+w&sentinel_username=sen"},
		{"cluster table", `store = { nodes = ["n1:7000", "n2:7001", "[::1]:7002"], password = "pw", tls = true }`,
			"rediss+cluster://:pw@n1:7000,n2:7001,[::1]:7002"},
		{"cluster sub-table", "[rules.rate_limit.store]\nnodes = [\"n1:7000\"]", "redis+cluster://n1:7000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte("[rules.rate_limit]\nlimit = 3\n"+tt.store+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			st := c.Rules.RateLimit.Store
			if st.url != tt.want {
				t.Errorf("store URL %q, want %q", st.url, tt.want)
			}
			if st.memory() != (tt.want == "memory") {
				t.Errorf("memory() = %v", st.memory())
			}
			if strings.Contains(st.String(), "pw") || strings.Contains(st.String(), "p@ss") {
				t.Errorf("String() shows a password: %s", st)
			}
			// The configuration in force parses back to the same store.
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse("printed.toml", out)
			if err != nil {
				t.Fatalf("printed configuration does not parse: %v\n%s", err, out)
			}
			if got := again.Rules.RateLimit.Store.url; got != tt.want {
				t.Errorf("printed store %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRateLimitStorePolicy: a [[policy]] block may keep its counts in a
// store of its own, in either form; a block that does not name one
// inherits the top-level store, a table included.
func TestRateLimitStorePolicy(t *testing.T) {
	c := mustParse(t, `[rules.rate_limit]
limit = 3
store = { nodes = ["n1:7000"] }

[[policy]]
recipients = ["*@a.example"]
[policy.rules.rate_limit]
limit = 5

[[policy]]
recipients = ["*@b.example"]
[policy.rules.rate_limit]
store = { sentinels = ["s1:26379"], master_name = "m" }

[[policy]]
recipients = ["*@c.example"]
[policy.rules.rate_limit]
store = "memory"
`)
	for i, want := range []string{"redis+cluster://n1:7000", "redis+sentinel://s1:26379/m/0", "memory"} {
		if got := c.Policies[i].Rules.RateLimit.Store.url; got != want {
			t.Errorf("policy %d: store %q, want %q", i+1, got, want)
		}
	}
	if got := c.Rules.RateLimit.Store.url; got != "redis+cluster://n1:7000" {
		t.Errorf("top-level store %q", got)
	}
}

// TestRateLimitStoreErrors: a bad store, in either form, is reported at
// its key with what is wrong, and never with a password.
func TestRateLimitStoreErrors(t *testing.T) {
	for _, tt := range []struct{ store, want string }{
		{`store = "redis+sentinel://:s3cret@s1:26379"`, "t.toml:3:1: rules.rate_limit.store: ratelimit: redis url redis+sentinel://:xxxxx@s1:26379: no master name"},
		{`store = "redis+cluster://:s3cret@n1:bad"`, `t.toml:3:1: rules.rate_limit.store: ratelimit: redis url redis+cluster://:xxxxx@n1:bad: host "n1:bad": invalid port "bad"`},
		{`store = "http://:s3cret@h/"`, `t.toml:3:1: rules.rate_limit.store: want "memory", a Redis URL`},
		{`store = { sentinels = ["s1"], password = "s3cret" }`, "t.toml:3:1: rules.rate_limit.store.master_name: the name the Sentinels know the master by is missing"},
		{`store = { sentinels = ["s1"], master_name = "m", db = -1 }`, "t.toml:3:50: rules.rate_limit.store.db: must be 0 or more, not -1"},
		{`store = { sentinels = ["s1"], nodes = ["n1"], password = "s3cret" }`, "t.toml:3:1: rules.rate_limit.store: sentinels (Redis Sentinel) or nodes (Redis Cluster), not both"},
		{`store = { password = "s3cret" }`, "t.toml:3:1: rules.rate_limit.store: a store table names Redis servers"},
		{`store = {}`, "t.toml:3:1: rules.rate_limit.store: a store table names Redis servers"},
		{`store = { nodes = ["n1:7000"], db = 2, password = "s3cret" }`, "t.toml:3:32: rules.rate_limit.store.db: a Redis Cluster has database 0 only, not 2"},
		{`store = { nodes = ["n1:7000"], master_name = "m" }`, "t.toml:3:32: rules.rate_limit.store.master_name: is for sentinels"},
		{`store = { nodes = ["n1:7000"], sentinel_password = "s3cret" }`, "rules.rate_limit.store.sentinel_password: is for sentinels"},
		{`store = { nodes = ["n1:bad"], password = "s3cret" }`, `t.toml:3:11: rules.rate_limit.store.nodes: host "n1:bad": invalid port "bad"`},
		{`store = { nodes = ["n1:7000,n2:7001"] }`, `t.toml:3:11: rules.rate_limit.store.nodes: "n1:7000,n2:7001": want HOST:PORT`},
		{`store = { nodes = ["redis://n1:7000"] }`, `rules.rate_limit.store.nodes: "redis://n1:7000": want HOST:PORT`},
		{`store = { sentinels = ["[::1"], master_name = "m", password = "s3cret" }`, `t.toml:3:11: rules.rate_limit.store.sentinels: host "[::1"`},
		{`store = { nodes = ["n1:7000"], pasword = "s3cret" }`, "t.toml:3:32: rules.rate_limit.store.pasword: unknown key"},
		{`store = { nodes = "n1:7000" }`, "t.toml:3:19: rules.rate_limit.store: wrong type: want a list, not a TOML string"},
		{`store = ["n1:7000"]`, "t.toml:3:9: rules.rate_limit.store: wrong type: want a string or a table, not a TOML array"},
	} {
		_, err := Parse("t.toml", []byte("[rules.rate_limit]\nlimit = 3\n"+tt.store+"\n"))
		if err == nil {
			t.Errorf("%s: accepted", tt.store)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %s", tt.store, err, tt.want)
		}
		if strings.Contains(err.Error(), "cret") {
			t.Errorf("%s: the error shows the password: %v", tt.store, err)
		}
	}
}
