package e2e_test

// Rate limits shared by several MX hosts on Redis Cluster and Redis
// Sentinel: real redis-server processes on free loopback ports, each
// daemon behind a Postfix of its own, mail sent with swaks.

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/ratelimit"
	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// redisCliCmd creates the cluster.
const redisCliCmd = "/usr/bin/redis-cli"

// requireRedis fails the test unless redis-server and redis-cli are there.
func requireRedis(t testing.TB) {
	t.Helper()
	requireProgram(t, redisCmd)
	requireProgram(t, redisCliCmd)
}

// rateLimitStore is the rate_limit rule of ruleRateLimit on a store given
// as TOML (a quoted URL or an inline table), with its on_error.
func rateLimitStore(store, onError string) string {
	return fmt.Sprintf(`[rules.rate_limit]
key = "sender+recipient"
limit = 3
window = "10m"
store = %s
timeout = "300ms"
on_error = %q
action = "tempfail"
reply = "450 4.7.1 Too many messages to <{rcpt}>, try again later"
`, store, onError)
}

// tomlList writes addresses as a TOML array of strings.
func tomlList(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestE2ERedisCluster: two daemons, like two MX hosts, keep their counts in
// one Redis Cluster of three masters and enforce one limit together; one
// names the cluster by URL, the other by a table of its nodes.
func TestE2ERedisCluster(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	c := redistest.StartCluster(t, "cluster-pw")
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr)
	}
	byURL := sekishoConfig("enforce", rateLimitStore(strconv.Quote(c.SeedURL(0)), "tempfail"))
	byTable := sekishoConfig("enforce", rateLimitStore(
		fmt.Sprintf("{ nodes = %s, password = %q }", tomlList(addrs), c.Password), "tempfail"))
	sa, a := setup(t, byURL)
	sb, b := setup(t, byTable)
	sender := "rl-" + token(t) + "@example.org"
	sendUntilLimited(t, sender, []*postfix{a, b, a}, b)
	tok := token(t)
	out := a.mustSwaks(t, 24, "--from", sender, "--to", "bob@example.co.jp", "--header", "X-E2E-Token: "+tok)
	mustRefuse(t, out, regexp.QuoteMeta("450 4.7.1 Too many messages to <bob@example.co.jp>"))
	a.notDelivered(t, tok)

	// The events are in the cluster, under the daemons' prefix, in the
	// slot of their key.
	cl := c.Client()
	defer cl.Close()
	key := "sekisho:rl:" + ratelimit.Digest(nil, "sender+recipient:"+strings.ToLower(sender)+"|bob@example.co.jp")
	if n, err := cl.ZCard(t.Context(), key).Result(); n != 3 || err != nil {
		t.Errorf("ZCARD %s = %d, %v; want the 3 accepted messages", key, n, err)
	}
	for _, s := range []*sekishoProc{sa, sb} {
		if lines := s.logLines("rate-limit store not answering"); len(lines) > 0 {
			t.Errorf("store reported down: %s", lines[0])
		}
		if strings.Contains(s.Logs(), c.Password) {
			t.Error("the daemon logged the cluster's password")
		}
	}
}

// TestE2ERedisSentinelFailover: a daemon keeps its counts on a Sentinel
// master, which is killed (SIGKILL, by PID) once two messages are counted.
// While no master is known every message gets the rule's on_error
// (tempfail, 451), never an accept; once a Sentinel has promoted the
// replica, which kept the two counts, one more message is accepted and the
// next is over the limit. The outage is logged once each way and shows in
// sekisho_ratelimit_store_up.
func TestE2ERedisSentinelFailover(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	st := redistest.StartSentinel(t, "data-pw", "sentinel-pw")
	var sentinels []string
	for _, s := range st.Sentinels {
		sentinels = append(sentinels, s.Addr)
	}
	store := fmt.Sprintf("{ sentinels = %s, master_name = %q, db = 0, password = %q, sentinel_password = %q }",
		tomlList(sentinels), redistest.MasterName, st.Password, st.SentinelPassword)
	metricsPort := freePort(t)
	s, pf := setup(t, sekishoConfig("enforce", rateLimitStore(store, "tempfail"))+metricsTable(metricsPort))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	upSeries := `sekisho_ratelimit_store_up{store="redis+sentinel://:xxxxx@` + strings.Join(sentinels, ",") +
		`/mymaster/0?sentinel_password=xxxxx"}`

	const rcpt = "bob@example.co.jp"
	sender := "rl-" + token(t) + "@example.org"
	send := func() (int, string, string) {
		tok := token(t)
		code, out := pf.swaks(t, "--from", sender, "--to", rcpt, "--header", "X-E2E-Token: "+tok)
		return code, out, tok
	}
	for range 2 {
		code, out, tok := send()
		if code != 0 {
			t.Fatalf("before the failover: swaks exit %d\n%s", code, out)
		}
		pf.waitDelivered(t, tok, 1)
	}
	if v := scrape(t, metricsURL)[upSeries]; v != 1 {
		t.Errorf("%s = %v before the failover, want 1", upSeries, v)
	}
	st.WaitReplicated(t)

	st.Master.Kill()
	killed := time.Now()
	var tempfailed, accepted int
	var acceptedToks []string
	var outage time.Duration
	for {
		if time.Since(killed) > 60*time.Second {
			t.Fatalf("limit not enforced 60 s after the master was killed: %d tempfailed, %d accepted", tempfailed, accepted)
		}
		code, out, tok := send()
		switch {
		case code == 0:
			if outage == 0 {
				outage = time.Since(killed)
			}
			accepted++
			acceptedToks = append(acceptedToks, tok)
			if accepted > 1 {
				t.Fatalf("%d messages accepted after the failover: the limit of 3 was passed (the replica lost counts?)\n%s", accepted, out)
			}
			continue
		case code == 24 && refusedWith(regexp.QuoteMeta("451 4.7.1 Temporary policy failure")).MatchString(out):
			if accepted > 0 {
				t.Fatalf("on_error after the store answered again:\n%s", out)
			}
			tempfailed++
			if tempfailed == 1 {
				if v := scrape(t, metricsURL)[upSeries]; v != 0 {
					t.Errorf("%s = %v while the store fails, want 0", upSeries, v)
				}
			}
			pf.notDelivered(t, tok)
			continue
		case code == 24 && refusedWith(regexp.QuoteMeta("450 4.7.1 Too many messages to <"+rcpt+">")).MatchString(out):
			pf.notDelivered(t, tok)
		default:
			t.Fatalf("during the failover: swaks exit %d, want 451 (on_error), 250 (one more allowed) or 450 (over the limit)\n%s", code, out)
		}
		break
	}
	enforced := time.Since(killed)
	t.Logf("master killed: %d messages got on_error (451) for %v; limit enforced again %v after the kill", tempfailed, outage.Round(10*time.Millisecond), enforced.Round(10*time.Millisecond))
	if tempfailed == 0 {
		t.Error("no message got on_error: the failover went unseen")
	}
	if accepted != 1 {
		t.Errorf("%d messages accepted after the failover, want 1 (the third of the limit)", accepted)
	}
	for _, tok := range acceptedToks {
		pf.waitDelivered(t, tok, 1)
	}
	if now, err := st.WaitMasterAddr(t.Context(), st.Replica.Addr, 10*time.Second); err != nil || now != st.Replica.Addr {
		t.Errorf("Sentinels name master %q (%v), want the replica %s", now, err, st.Replica.Addr)
	}
	if n := len(s.logLines("rate-limit store not answering", "level=WARN")); n != 1 {
		t.Errorf("%d WARN lines for the store going down, want 1", n)
	}
	s.waitLog(t, "rate-limit store answers again", "level=INFO")
	if n := len(s.logLines("rate-limit store answers again")); n != 1 {
		t.Errorf("%d lines for the store coming back, want 1", n)
	}
	if v := scrape(t, metricsURL)[upSeries]; v != 1 {
		t.Errorf("%s = %v after the failover, want 1", upSeries, v)
	}
	for _, pw := range []string{st.Password, st.SentinelPassword} {
		if strings.Contains(s.Logs(), pw) {
			t.Errorf("the daemon logged a password")
		}
	}
}

// TestE2ERedisCheckHA: -check reports a bad Sentinel or Cluster store, URL
// or table, at its line, saying what is wrong and without the password.
func TestE2ERedisCheckHA(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ store, want string }{
		{`"redis+sentinel://app:s3cret-pw@s1:26379,s2:26379"`, `rules.rate_limit.store: ratelimit: redis url redis+sentinel://app:xxxxx@s1:26379,s2:26379: no master name`},
		{`"redis+cluster://:s3cret-pw@n1:7000,n2:x"`, `rules.rate_limit.store: ratelimit: redis url redis+cluster://:xxxxx@n1:7000,n2:x: host "n2:x": invalid port "x"`},
		{`{ sentinels = ["s1:26379"], password = "s3cret-pw" }`, `rules.rate_limit.store.master_name: the name the Sentinels know the master by is missing`},
		{`{ nodes = ["n1:7000"], db = 1, password = "s3cret-pw" }`, `rules.rate_limit.store.db: a Redis Cluster has database 0 only, not 1`},
	} {
		path := t.TempDir() + "/bad.toml"
		if err := os.WriteFile(path, []byte("[rules.rate_limit]\nlimit = 3\nstore = "+tt.store+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runSekisho(t, "-check", "-config", path)
		if code == 0 || !strings.Contains(out, path+":3:") || !strings.Contains(out, tt.want) || strings.Contains(out, "s3cret") {
			t.Errorf("-check with store = %s: exit %d, want an error at line 3 with %q and no password:\n%s", tt.store, code, tt.want, out)
		}
	}
}
