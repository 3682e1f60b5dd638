package e2e_test

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sekisho/sekisho/policy/ratelimit/redistest"
)

// Paths of the Debian packages the harness drives.
const (
	clamdCmd    = "/usr/sbin/clamd"
	sigtoolCmd  = "/usr/bin/sigtool"
	rbldnsdCmd  = "/usr/sbin/rbldnsd"
	redisCmd    = "/usr/bin/redis-server"
	clamTestDir = "/usr/share/clamav-testfiles"
	clamTestExe = clamTestDir + "/clam.exe"
)

// eicar is the EICAR anti-virus test file (68 bytes).
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Signature names of the harness's clamd database; clamd reports them with
// ".UNOFFICIAL" appended.
const (
	eicarSig   = "Eicar-Test-Signature"
	clamExeSig = "Clamav.Test.File-6"
)

// service is a daemon shared by the whole package or owned by one test.
type service struct {
	p     *proc
	redis *redistest.Server // instead of p, for the package's Redis
	dir   string
	Addr  string // 127.0.0.1:PORT
}

func (s *service) stop() {
	if s.redis != nil {
		s.redis.Stop()
	} else {
		s.p.stop()
	}
	os.RemoveAll(s.dir)
}

func newServiceDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", "sekisho-e2e-"+prefix+"-")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// rbldnsdZones are the test DNSBL zones: bl.test lists 127.0.0.2 and
// 127.0.0.128/25; refuse.test answers 127.255.255.254 ("query refused", as
// Spamhaus does for open resolvers) for every address.
var rbldnsdZones = map[string]string{
	"bl.test":     "testdata/bl.test.zone",
	"refuse.test": "testdata/refuse.test.zone",
}

// newRbldnsd serves zones (name → zone file in ip4trie format) on a free
// UDP port and waits until it answers.
func newRbldnsd(zones map[string]string) (*service, error) {
	dir, err := newServiceDir("rbldnsd")
	if err != nil {
		return nil, err
	}
	port, err := freeUDP()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// rbldnsd drops to user rbldns: its files must be world-readable.
	args := []string{rbldnsdCmd, "-n", "-e", "-t", "60", "-b", fmt.Sprintf("127.0.0.1/%d", port), "-w", dir}
	var first string
	for zone, src := range zones {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		name := zone + ".zone"
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
		args = append(args, zone+":ip4trie:"+name)
		first = zone
	}
	p, err := startProc("rbldnsd", filepath.Join(dir, "rbldnsd.log"), args...)
	if err != nil {
		return nil, err
	}
	s := &service{p: p, dir: dir, Addr: addr}
	deadline := time.Now().Add(5 * time.Second)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(first), dns.TypeSOA)
		if _, _, err := c.Exchange(m, addr); err == nil {
			return s, nil
		}
		select {
		case <-p.exited:
			out := p.output()
			s.stop()
			return nil, fmt.Errorf("rbldnsd exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			out := p.output()
			s.stop()
			return nil, fmt.Errorf("rbldnsd not answering on %s: %s", addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newClamd starts clamd on a free TCP port with a database of MD5
// signatures for EICAR and ClamAV's clam.exe, made by sigtool.
func newClamd() (*service, error) {
	dir, err := newServiceDir("clamd")
	if err != nil {
		return nil, err
	}
	sigs := map[string][]byte{eicarSig: []byte(eicar)}
	exe, err := os.ReadFile(clamTestExe)
	if err != nil {
		return nil, err
	}
	sigs[clamExeSig] = exe
	var db strings.Builder
	for name, data := range sigs {
		// sigtool names the signature after the file.
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command(sigtoolCmd, "--md5", name)
		cmd.Dir = dir
		line, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("sigtool --md5 %s: %w", name, err)
		}
		sum := md5.Sum(data)
		want := fmt.Sprintf("%s:%d:%s\n", hex.EncodeToString(sum[:]), len(data), name)
		if string(line) != want {
			return nil, fmt.Errorf("sigtool --md5 %s = %q, want %q", name, line, want)
		}
		db.Write(line)
		os.Remove(src)
	}
	dbDir := filepath.Join(dir, "db")
	if err := os.Mkdir(dbDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dbDir, "sekisho-test.hdb"), []byte(db.String()), 0o644); err != nil {
		return nil, err
	}
	// A hash signature matches a whole file only; this body signature
	// finds the EICAR string inside other text too, as the signature in
	// ClamAV's own database does.
	ndb := fmt.Sprintf("%s:0:*:%s\n", eicarSig, hex.EncodeToString([]byte(eicar)))
	if err := os.WriteFile(filepath.Join(dbDir, "sekisho-test.ndb"), []byte(ndb), 0o644); err != nil {
		return nil, err
	}
	// A database with a version, as the daily.cvd freshclam keeps: clamd
	// then answers VERSION with it, and the virus rule's verdict cache is
	// keyed by it. sigtool builds it unsigned (a .cud, which clamd loads)
	// around one harmless signature.
	if err := buildDaily(dir, dbDir, 27480); err != nil {
		return nil, err
	}
	port, err := freeTCP()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf(`Foreground yes
User root
TCPSocket %d
TCPAddr 127.0.0.1
DatabaseDirectory %s
LogFile %s/clamd.log
StreamMaxLength 25M
SelfCheck 3600
`, port, dbDir, dir)
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("clamd", filepath.Join(dir, "clamd.out"), clamdCmd, "--config-file="+confPath)
	if err != nil {
		return nil, err
	}
	s := &service{p: p, dir: dir, Addr: addr}
	if err := waitClamd(addr, 15*time.Second, p.exited); err != nil {
		out := p.output()
		s.stop()
		return nil, fmt.Errorf("clamd: %w\n%s", err, out)
	}
	return s, nil
}

// buildDaily writes dbDir/daily.cud, of the given version, built in a
// directory of its own under dir.
func buildDaily(dir, dbDir string, version int) error {
	build := filepath.Join(dir, "daily")
	if err := os.Mkdir(build, 0o755); err != nil {
		return err
	}
	data := []byte("sekisho test database: no file is this one\n")
	sum := md5.Sum(data)
	hdb := fmt.Sprintf("%s:%d:Sekisho.Test.Version\n", hex.EncodeToString(sum[:]), len(data))
	for name, content := range map[string]string{"daily.hdb": hdb, "COPYING": "test database\n"} {
		if err := os.WriteFile(filepath.Join(build, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command(sigtoolCmd, "--unsigned", "--build=daily.cud", fmt.Sprintf("--cvd-version=%d", version),
		"--no-cdiff", "--datadir="+build)
	cmd.Dir = build
	cmd.Stdin = strings.NewReader("sekisho-tests\n") // the builder's name
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sigtool --build daily.cud: %w\n%s", err, out)
	}
	return os.Rename(filepath.Join(build, "daily.cud"), filepath.Join(dbDir, "daily.cud"))
}

func waitClamd(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		r, err := clamdCommand(addr, "zPING\x00", nil)
		if err == nil && r == "PONG" {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before answering PING")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG on %s after %v: %v %q", addr, timeout, err, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clamdCommand sends one z-command to clamd, with data streamed in
// INSTREAM chunks when not nil, and returns the reply without its NUL.
func clamdCommand(addr, cmd string, data []byte) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, cmd); err != nil {
		return "", err
	}
	if data != nil {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		if _, err := c.Write(append(append(n[:], data...), 0, 0, 0, 0)); err != nil {
			return "", err
		}
	}
	r, err := bufio.NewReader(c).ReadString(0)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(r, "\x00"), nil
}

// newRedis starts redis-server on a free port without persistence, as
// redistest starts every Redis of the tests.
func newRedis() (*service, error) {
	dir, err := newServiceDir("redis")
	if err != nil {
		return nil, err
	}
	r, err := redistest.StartSharedServer(dir, "")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &service{redis: r, dir: dir, Addr: r.Addr}, nil
}

// handedOut holds the ports freeTCP and freeUDP gave: a port is free
// only until its daemon binds it, and tests run in parallel, so the same
// port must not be given twice while the first daemon starts.
var handedOut struct {
	mu    sync.Mutex
	ports map[string]bool
}

// unique returns the first port pick gives that was not given before.
func unique(proto string, pick func() (int, error)) (int, error) {
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[string]bool{}
	}
	for range 100 {
		port, err := pick()
		if err != nil {
			return 0, err
		}
		if key := fmt.Sprintf("%s/%d", proto, port); !handedOut.ports[key] {
			handedOut.ports[key] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("no %s port that was not given before", proto)
}

func freeTCP() (int, error) {
	return unique("tcp", func() (int, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	})
}

func freeUDP() (int, error) {
	return unique("udp", func() (int, error) {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	})
}

// shared holds the daemons one package run shares; each starts on first use
// and stops when TestMain ends.
var shared struct {
	mu       sync.Mutex
	services map[string]*service
	errs     map[string]error
}

// sharedService starts the named service once per package run.
func sharedService(t testing.TB, name string, requires []string, start func() (*service, error)) *service {
	t.Helper()
	for _, r := range requires {
		requireProgram(t, r)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.services == nil {
		shared.services = map[string]*service{}
		shared.errs = map[string]error{}
	}
	if err, ok := shared.errs[name]; ok {
		t.Fatalf("%s: %v", name, err)
	}
	if s, ok := shared.services[name]; ok {
		return s
	}
	t0 := time.Now()
	s, err := start()
	if err != nil {
		shared.errs[name] = err
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s on %s ready in %v", name, s.Addr, time.Since(t0).Round(time.Millisecond))
	shared.services[name] = s
	return s
}

func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, s := range shared.services {
		s.stop()
	}
}

// sharedRbldnsd returns the package's rbldnsd serving rbldnsdZones.
func sharedRbldnsd(t testing.TB) *service {
	return sharedService(t, "rbldnsd", []string{rbldnsdCmd}, func() (*service, error) {
		return newRbldnsd(rbldnsdZones)
	})
}

// sharedClamd returns the package's clamd.
func sharedClamd(t testing.TB) *service {
	return sharedService(t, "clamd", []string{clamdCmd, sigtoolCmd, clamTestExe}, newClamd)
}

// sharedRedis returns the package's Redis.
func sharedRedis(t testing.TB) *redistest.Server {
	return sharedService(t, "redis", []string{redisCmd}, newRedis).redis
}

// startClamd starts a clamd of the test's own, stopped at cleanup (or
// earlier with its stop method).
func startClamd(t testing.TB) *service {
	t.Helper()
	for _, p := range []string{clamdCmd, sigtoolCmd, clamTestExe} {
		requireProgram(t, p)
	}
	s, err := newClamd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}
