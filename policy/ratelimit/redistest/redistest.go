// Package redistest starts throwaway Redis deployments for tests: one
// server, a Redis Cluster of three masters, and a Sentinel setup of a
// master, a replica and three Sentinels. Each listens on free loopback
// ports, keeps its files in the test's temporary directory, persists
// nothing, and is stopped by its PIDs when the test ends, so that tests
// run in parallel and beside other users of the machine.
//
// A missing redis-server or redis-cli fails the test, naming the Debian
// package that ships it: the stores must not go untested. Under -short
// the test is skipped instead: the fast loop runs no outside server.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// programs are the programs the deployments run, with their Debian
// packages.
var programs = map[string]string{
	"redis-server": "redis-server", // servers, and Sentinels with --sentinel
	"redis-cli":    "redis-tools",  // only to create the cluster
}

// MasterName is the name the Sentinels know the master by.
const MasterName = "mymaster"

// startTimeout bounds how long a deployment may take to become ready.
const startTimeout = 30 * time.Second

// skipShort skips the test under -short.
func skipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs redis-server: run without -short")
	}
}

// program returns the path of a program, failing the test without it.
func program(tb testing.TB, name string) string {
	tb.Helper()
	path, err := lookProgram(name)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// lookProgram returns the path of a program, or an error that says how
// to install it.
func lookProgram(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is needed to test the Redis stores and was not found in PATH (%v): it comes with Debian package %s; install every test dependency with bash testdata/install-deps.sh (as root, from the repository root)", name, err, programs[name])
	}
	return path, nil
}

// Server is one redis-server process, a data node or a Sentinel.
type Server struct {
	Addr string // 127.0.0.1:PORT
	Port int

	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	once   sync.Once
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log returns what the server wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// Kill ends the server at once with SIGKILL, as a crash would, and waits
// for it to be gone.
func (s *Server) Kill() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
}

// Stop ends the server with SIGTERM, and SIGKILL if it is still there
// after five seconds; later calls do nothing.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Client returns a client of this server alone; the caller closes it.
func (s *Server) Client(password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, Password: password, MaxRetries: -1, DialTimeout: time.Second})
}

// start runs redis-server with the arguments args gives for a port, in
// dir, waits until it answers PING (with password, when not empty), and
// stops it when the test ends.
func start(tb testing.TB, dir, name, password string, args func(port int) ([]string, error)) *Server {
	tb.Helper()
	s, err := launch(dir, name, password, args)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// launch runs redis-server with the arguments args gives for a port, in
// dir, and waits until it answers PING (with password, when not empty).
// A port taken between the choice and the start gets another try.
func launch(dir, name, password string, args func(port int) ([]string, error)) (*Server, error) {
	bin, err := lookProgram("redis-server")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		argv, err := args(port)
		if err != nil {
			return nil, err
		}
		logFile := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, port))
		f, err := os.Create(logFile)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, argv...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = f, f
		// Its own process group: a signal to the test's group (^C) is
		// not the way it is stopped.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("starting redis-server: %w", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, cmd: cmd, log: logFile, exited: make(chan struct{})}
		go func() {
			cmd.Wait()
			close(s.exited)
		}()
		if lastErr = s.waitPing(password); lastErr == nil {
			return s, nil
		}
		s.Kill()
		lastErr = fmt.Errorf("%w; output:\n%s", lastErr, s.Log())
	}
	return nil, fmt.Errorf("%s did not start: %w", name, lastErr)
}

// waitPing waits until the server answers PING.
func (s *Server) waitPing(password string) error {
	c := s.Client(password)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("redis-server on %s exited", s.Addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not answering PING: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	given.mu.Lock()
	defer given.mu.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// A port is free only until its server binds it: never the same
		// twice while the servers of parallel tests start.
		if !given.ports[port] {
			given.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("redistest: no port that was not given before")
}

// given holds the ports FreePort gave in this process.
var given struct {
	mu    sync.Mutex
	ports map[int]bool
}

// dataArgs are the arguments of every data node: loopback only, nothing
// written to disk, and the password, if any, for clients and for a
// replica's link to its master.
func dataArgs(port int, password string) []string {
	a := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--daemonize", "no",
		"--save", "", "--appendonly", "no"}
	if password != "" {
		a = append(a, "--requirepass", password, "--masterauth", password)
	}
	return a
}

// StartServer starts one redis-server, with password when not empty.
func StartServer(tb testing.TB, password string) *Server {
	tb.Helper()
	skipShort(tb)
	dir := tb.TempDir()
	return start(tb, dir, "redis", password, serverArgs(dir, password))
}

// StartSharedServer starts one redis-server, with password when not
// empty and its files in dir, for the tests of a whole package rather
// than one test: the caller stops it with Stop.
func StartSharedServer(dir, password string) (*Server, error) {
	return launch(dir, "redis", password, serverArgs(dir, password))
}

// serverArgs are the arguments of a server alone, keeping its files in
// dir.
func serverArgs(dir, password string) func(port int) ([]string, error) {
	return func(port int) ([]string, error) {
		return append(dataArgs(port, password), "--dir", dir), nil
	}
}

// URL is the server's store URL.
func (s *Server) URL(password string) string {
	if password != "" {
		return "redis://:" + password + "@" + s.Addr + "/0"
	}
	return "redis://" + s.Addr + "/0"
}

// Cluster is a Redis Cluster of three masters, each holding a third of
// the slots, and of their replicas, if any.
type Cluster struct {
	Nodes    []*Server // the masters first, as created; then the replicas
	Password string
}

// StartCluster starts three cluster-enabled servers (with password when
// not empty), joins them with redis-cli --cluster create, and waits until
// every node serves all 16384 slots.
func StartCluster(tb testing.TB, password string) *Cluster {
	return startCluster(tb, password, 0)
}

// StartClusterWithReplicas starts a cluster of three masters with one
// replica each, and waits until every replica is in sync with its master.
func StartClusterWithReplicas(tb testing.TB, password string) *Cluster {
	return startCluster(tb, password, 1)
}

func startCluster(tb testing.TB, password string, replicas int) *Cluster {
	tb.Helper()
	skipShort(tb)
	cli := program(tb, "redis-cli")
	dir := tb.TempDir()
	c := &Cluster{Password: password}
	for i := range 3 * (1 + replicas) {
		c.Nodes = append(c.Nodes, start(tb, dir, fmt.Sprintf("cluster%d", i), password, func(port int) ([]string, error) {
			// The bus port is chosen too: port+10000, the default,
			// may be taken or out of range.
			bus, err := FreePort()
			if err != nil {
				return nil, err
			}
			return append(dataArgs(port, password), "--dir", dir,
				"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
				"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
				"--cluster-node-timeout", "2000"), nil
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	if replicas > 0 {
		args = append(args, "--cluster-replicas", strconv.Itoa(replicas))
	}
	cmd := exec.CommandContext(ctx, cli, append(args, "--cluster-yes")...)
	// REDISCLI_AUTH keeps the password off the command line.
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		known := fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))
		if err := waitInfo(ctx, n, password, []string{"cluster", "info"}, "cluster_state:ok", "cluster_slots_ok:16384", known); err != nil {
			tb.Fatalf("cluster node %s: %v\n%s", n.Addr, err, n.Log())
		}
	}
	// redis-cli makes the last nodes given the replicas.
	for _, n := range c.Nodes[3:] {
		if err := waitInfo(ctx, n, password, []string{"info", "replication"}, "role:slave", "master_link_status:up"); err != nil {
			tb.Fatalf("cluster replica %s: %v\n%s", n.Addr, err, n.Log())
		}
	}
	return c
}

// ReplicaOf returns the replica of the master at addr, or nil.
func (c *Cluster) ReplicaOf(tb testing.TB, addr string) *Server {
	tb.Helper()
	for _, n := range c.Nodes {
		cl := n.Client(c.Password)
		info, err := cl.Info(context.Background(), "replication").Result()
		cl.Close()
		if err != nil {
			continue
		}
		host, port, _ := net.SplitHostPort(addr)
		if infoStr(info, "role") == "slave" && infoStr(info, "master_host") == host && infoStr(info, "master_port") == port {
			return n
		}
	}
	return nil
}

// URL is the cluster's store URL, listing every node.
func (c *Cluster) URL() string { return c.url("redis+cluster", c.Nodes) }

// SeedURL is a store URL that names one node only: the client learns
// the others from it.
func (c *Cluster) SeedURL(i int) string { return c.url("redis+cluster", c.Nodes[i:i+1]) }

func (c *Cluster) url(scheme string, nodes []*Server) string {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr)
	}
	auth := ""
	if c.Password != "" {
		auth = ":" + c.Password + "@"
	}
	return scheme + "://" + auth + strings.Join(addrs, ",")
}

// Client returns a cluster client for inspecting what the tests stored;
// the caller closes it.
func (c *Cluster) Client() *redis.ClusterClient {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr)
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: c.Password})
}

// Sentinel is a master, its replica, and three Sentinels watching them
// with a quorum of two.
type Sentinel struct {
	Master, Replica  *Server
	Sentinels        []*Server
	Password         string // of the master and the replica
	SentinelPassword string // of the Sentinels
}

// DownAfter is how long the Sentinels wait for a silent master before
// they fail it over; the failover itself takes a second or two more.
const DownAfter = 500 * time.Millisecond

// StartSentinel starts the setup and waits until the replica is in sync
// and every Sentinel knows the replica and the two other Sentinels, so
// that a failover can be agreed at once. The passwords may be empty.
func StartSentinel(tb testing.TB, password, sentinelPassword string) *Sentinel {
	tb.Helper()
	skipShort(tb)
	dir := tb.TempDir()
	s := &Sentinel{Password: password, SentinelPassword: sentinelPassword}
	s.Master = start(tb, dir, "master", password, func(port int) ([]string, error) {
		return append(dataArgs(port, password), "--dir", dir), nil
	})
	s.Replica = start(tb, dir, "replica", password, func(port int) ([]string, error) {
		return append(dataArgs(port, password), "--dir", dir,
			"--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port)), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitInfo(ctx, s.Replica, password, []string{"info", "replication"}, "master_link_status:up"); err != nil {
		tb.Fatalf("replica: %v\n%s", err, s.Replica.Log())
	}
	for i := range 3 {
		s.Sentinels = append(s.Sentinels, start(tb, dir, fmt.Sprintf("sentinel%d", i), sentinelPassword, func(port int) ([]string, error) {
			// A Sentinel rewrites its configuration file: one each.
			conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
			text := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\n", port, dir) +
				fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n", MasterName, s.Master.Port) +
				fmt.Sprintf("sentinel down-after-milliseconds %s %d\n", MasterName, DownAfter.Milliseconds()) +
				fmt.Sprintf("sentinel failover-timeout %s 10000\n", MasterName)
			if password != "" {
				text += fmt.Sprintf("sentinel auth-pass %s %s\n", MasterName, password)
			}
			if sentinelPassword != "" {
				// Sentinels talk to each other with it too.
				text += fmt.Sprintf("requirepass %s\nsentinel sentinel-pass %s\n", sentinelPassword, sentinelPassword)
			}
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, err
			}
			return []string{conf, "--sentinel"}, nil
		}))
	}
	for _, sen := range s.Sentinels {
		if err := s.waitSentinel(ctx, sen); err != nil {
			tb.Fatalf("sentinel %s: %v\n%s", sen.Addr, err, sen.Log())
		}
	}
	return s
}

// waitSentinel waits until a Sentinel sees the master up with one
// replica and two other Sentinels.
func (s *Sentinel) waitSentinel(ctx context.Context, sen *Server) error {
	c := redis.NewSentinelClient(&redis.Options{Addr: sen.Addr, Password: s.SentinelPassword, MaxRetries: -1})
	defer c.Close()
	var last map[string]string
	for {
		m, err := c.Master(ctx, MasterName).Result()
		if err == nil {
			last = m
			if m["flags"] == "master" && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %v (last state %v)", err, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the setup's store URL, listing every Sentinel.
func (s *Sentinel) URL() string {
	var addrs []string
	for _, sen := range s.Sentinels {
		addrs = append(addrs, sen.Addr)
	}
	auth := ""
	if s.Password != "" {
		auth = ":" + s.Password + "@"
	}
	u := "redis+sentinel://" + auth + strings.Join(addrs, ",") + "/" + MasterName + "/0"
	if s.SentinelPassword != "" {
		u += "?sentinel_password=" + s.SentinelPassword
	}
	return u
}

// WaitReplicated waits until the replica has received every write the
// master had when it was called: a count made before it survives the
// master's loss.
func (s *Sentinel) WaitReplicated(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := s.Master.Client(s.Password)
	defer m.Close()
	info, err := m.Info(ctx, "replication").Result()
	if err != nil {
		tb.Fatal(err)
	}
	want := infoInt(info, "master_repl_offset")
	r := s.Replica.Client(s.Password)
	defer r.Close()
	for {
		info, err := r.Info(ctx, "replication").Result()
		if err == nil && infoInt(info, "slave_repl_offset") >= want {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("replica not at offset %d: %v\n%s", want, err, info)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// MasterAddr returns the master's address as the first Sentinel that
// answers tells it.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, sen := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sen.Addr, Password: s.SentinelPassword, MaxRetries: -1})
		a, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		c.Close()
		if err == nil && len(a) == 2 {
			return net.JoinHostPort(a[0], a[1]), nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// WaitMasterAddr polls the Sentinels until they name want as the master,
// for up to timeout, and returns what they name last: after a failover,
// the Sentinel asked may learn of the new master a moment after the one a
// client follows.
func (s *Sentinel) WaitMasterAddr(ctx context.Context, want string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := s.MasterAddr(ctx)
		if (err == nil && got == want) || time.Now().After(deadline) {
			return got, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// infoStr reads a field of an INFO reply; "" when absent.
func infoStr(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// infoInt reads a numeric field of an INFO reply; -1 when absent.
func infoInt(info, field string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// waitInfo polls a command with a text reply (INFO, CLUSTER INFO) until
// it holds every one of want.
func waitInfo(ctx context.Context, s *Server, password string, cmd []string, want ...string) error {
	c := s.Client(password)
	defer c.Close()
	args := make([]any, len(cmd))
	for i, a := range cmd {
		args[i] = a
	}
	var last string
	for {
		text, err := c.Do(ctx, args...).Text()
		if err == nil {
			last = text
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(text, w)
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never showed %q: %v\n%s", strings.Join(cmd, " "), want, err, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
