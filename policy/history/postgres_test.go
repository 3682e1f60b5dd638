package history

import (
	"context"
	"fmt"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
)

// PostgreSQL 15 as Debian's postgresql-15 installs it
// (testdata/install-deps.sh).
const pgBin = "/usr/lib/postgresql/15/bin"

// postgres is a PostgreSQL server started by a test on loopback, in a
// temp dir, as user postgres when the test runs as root (PostgreSQL
// refuses to run as root).
type postgres struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server exited
}

func startPostgres(t *testing.T) *postgres {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL 15: run without -short")
	}
	for _, p := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBin, p)); err != nil {
			t.Fatalf("PostgreSQL not installed (run testdata/install-deps.sh): %v", err)
		}
	}
	// The data dir's parents must be reachable by user postgres.
	dir, err := os.MkdirTemp("", "sekisho-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("user postgres (made by package postgresql-15): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p := &postgres{t: t, dir: dir}
	if out, err := p.command("initdb", "-D", data, "--auth=trust", "--username=sekisho", "--no-sync", "--encoding=UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

// command runs a PostgreSQL program, as user postgres when root.
func (p *postgres) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(pgBin, prog)
	if os.Geteuid() == 0 {
		// setpriv executes the program itself: its PID is the server's.
		return exec.Command("setpriv", append([]string{"--reuid=postgres", "--regid=postgres", "--init-groups", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// start runs the server on a free loopback port and waits until it takes
// connections; the same port again after a stop.
func (p *postgres) start() {
	t := p.t
	t.Helper()
	if p.port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	log, err := os.Create(filepath.Join(p.dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p.cmd = p.command("postgres", "-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.done = exited
	go func(c *exec.Cmd) { c.Wait(); close(exited) }(p.cmd)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(p.dir, "log"))
			t.Fatalf("postgres exited:\n%s", b)
		default:
		}
		s := must(Open(p.url(), false))
		_, err := s.Search(context.Background(), Query{Limit: 1})
		s.Close()
		if err == nil {
			return
		}
	}
	t.Fatal("postgres did not answer within 30s")
}

// stop ends the server it started, by PID, and waits for it.
func (p *postgres) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

func (p *postgres) url() string {
	return fmt.Sprintf("postgres://sekisho@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func TestPostgresStore(t *testing.T) {
	pg := startPostgres(t)
	s := must(Open(pg.url(), false))
	defer s.Close()
	if strings.Contains(s.Name(), "password") {
		t.Errorf("name %q", s.Name())
	}
	testStore(t, s)
}

// TestPostgresSeveralHosts: two MX hosts write to one PostgreSQL; one
// search finds both hosts' decisions. Then the server stops: records are
// dropped and counted without delaying the caller, and once it is back
// the writers go on.
func TestPostgresSeveralHosts(t *testing.T) {
	pg := startPostgres(t)
	m := metrics.New("test")
	var log testkit.Buffer
	opts := Options{Logger: slog.New(slog.NewTextHandler(&log, nil)), Metrics: m, Timeout: 2 * time.Second}
	opts.Host = "mx1"
	w1 := NewWriter(must(Open(pg.url(), false)), opts)
	opts.Host = "mx2"
	w2 := NewWriter(must(Open(pg.url(), false)), opts)
	w1.Record(Record{QueueID: "Q1", Sender: "a@example.org", Action: "accept", Stage: "eob"})
	w2.Record(Record{QueueID: "Q2", Sender: "a@example.org", Action: "reject", Stage: "eob"})
	reader := must(Open(pg.url(), true))
	defer reader.Close()
	waitFor(t, func() bool {
		recs, _ := reader.Search(context.Background(), Query{Words: []string{"a@example.org"}})
		return len(recs) == 2
	})
	recs, _ := reader.Search(context.Background(), Query{Words: []string{"mx2"}})
	if len(recs) != 1 || recs[0].QueueID != "Q2" {
		t.Errorf("mx2's: %+v", recs)
	}

	pg.stop()
	start := time.Now()
	for range 100 {
		w1.Record(Record{QueueID: "lost", Action: "accept"})
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("records took %v with the store down", d)
	}
	waitFor(t, func() bool { return metricValue(t, m, "sekisho_history_dropped_total") == 100 })
	pg.start()
	w1.Record(Record{QueueID: "Q3", Action: "accept"})
	waitFor(t, func() bool {
		recs, _ := reader.Search(context.Background(), Query{Words: []string{"q3"}})
		return len(recs) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w1.Close(ctx)
	w2.Close(ctx)
	out := log.String()
	if !strings.Contains(out, "history store not answering") || !strings.Contains(out, "history store answers again") {
		t.Errorf("log:\n%s", out)
	}
}
