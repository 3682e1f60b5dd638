package milter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/d--j/go-milter"
	"golang.org/x/text/encoding/japanese"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/metrics"
)

// benchServer serves the built-in configuration on a free loopback port,
// logging at its level to nowhere, so that formatting the decision log
// counts but writing it does not.
func benchServer(b *testing.B) string {
	b.Helper()
	return benchServerWith(b, policy.Default())
}

// benchServerWith serves cfg as benchServer serves the built-in one.
func benchServerWith(b *testing.B, cfg *policy.Config) string {
	b.Helper()
	return benchServerMetrics(b, cfg, nil)
}

// benchServerMetrics is benchServerWith counting into m (off when nil).
func benchServerMetrics(b *testing.B, cfg *policy.Config, m *metrics.Metrics) string {
	b.Helper()
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	e, err := policy.NewEngine(cfg, &policy.Env{Logger: log, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := milter.NewServer(e, log)
	srv.SetMetrics(m)
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// benchMTA is one kept MTA connection that sends whole messages.
type benchMTA struct {
	b       *testing.B
	s       *client.ClientSession
	macros  *client.MacroBag
	n       int
	senders int64 // senders used in turn; 0: a new one every message
}

func benchDial(b *testing.B, addr string) *benchMTA {
	b.Helper()
	m := benchConnect(b, addr)
	b.Cleanup(func() { m.s.Close() })
	return m
}

// benchConnect is benchDial for a connection the caller closes.
func benchConnect(b *testing.B, addr string) *benchMTA {
	b.Helper()
	c := client.NewClient("tcp", addr, client.WithActions(client.OptAddHeader|client.OptChangeHeader|client.OptQuarantine|client.OptSetMacros))
	macros := client.NewMacroBag()
	macros.Set(client.MacroMTAFQDN, "mx.example.co.jp")
	macros.Set(client.MacroClientAddr, "192.0.2.1")
	s, err := c.Session(macros)
	if err != nil {
		b.Fatal(err)
	}
	m := &benchMTA{b: b, s: s, macros: macros}
	m.ok(s.Conn("client.example", client.FamilyInet, 25, "192.0.2.1"))
	m.ok(s.Helo("client.example"))
	return m
}

// ok fails unless the milter let the message go on.
func (m *benchMTA) ok(act *client.Action, err error) {
	m.b.Helper()
	if err != nil {
		m.b.Fatal(err)
	}
	if act.Type != client.ActionContinue && act.Type != client.ActionAccept {
		m.b.Fatalf("message %d refused: %v", m.n, act)
	}
}

// send sends one message to one recipient and fails unless it is
// accepted. Each message has a sender of its own, so that the rate limit
// of the default configuration (sender+recipient) never refuses it.
// benchSenders numbers the senders of all connections, so that no two
// messages share one and the built-in rate limit never applies.
var benchSenders atomic.Int64

func (m *benchMTA) send(headers [][2]string, body io.Reader) {
	m.b.Helper()
	m.n++
	n := benchSenders.Add(1)
	if m.senders > 0 {
		n %= m.senders
	}
	m.ok(m.s.Mail(fmt.Sprintf("<sender%d@example.net>", n), ""))
	m.macros.Set(client.MacroRcptAddr, "user@example.co.jp")
	m.ok(m.s.Rcpt("<user@example.co.jp>", ""))
	m.ok(m.s.DataStart())
	for _, h := range headers {
		m.ok(m.s.HeaderField(h[0], h[1], nil))
	}
	m.macros.Set(client.MacroQueueId, fmt.Sprintf("4B%08X", m.n))
	m.ok(m.s.HeaderEnd())
	_, act, err := m.s.BodyReadFrom(body)
	m.ok(act, err)
}

// japaneseMail is a short ISO-2022-JP mail as Japanese mailers send it.
func japaneseMail(b *testing.B) ([][2]string, string) {
	b.Helper()
	enc := japanese.ISO2022JP.NewEncoder()
	subject, err := enc.String("お打ち合わせ日程のご確認")
	if err != nil {
		b.Fatal(err)
	}
	body, err := enc.String("山田様\r\n\r\nいつもお世話になっております。\r\n" +
		"来週のお打ち合わせですが、火曜日の午後三時からでいかがでしょうか。\r\n\r\nよろしくお願いいたします。\r\n鈴木\r\n")
	if err != nil {
		b.Fatal(err)
	}
	return [][2]string{
		{"From", "suzuki@example.net"},
		{"To", "user@example.co.jp"},
		{"Subject", mime.BEncoding.Encode("ISO-2022-JP", subject)},
		{"Message-ID", "<20260101.1@example.net>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=ISO-2022-JP"},
		{"Content-Transfer-Encoding", "7bit"},
	}, body
}

// BenchmarkMilterMessage is one short Japanese message per operation over
// a kept connection, with the built-in configuration. Allocations count
// both sides: the milter and the client playing the MTA.
func BenchmarkMilterMessage(b *testing.B) {
	m := benchDial(b, benchServer(b))
	headers, body := japaneseMail(b)
	b.ReportAllocs()
	for b.Loop() {
		m.send(headers, strings.NewReader(body))
	}
}

// BenchmarkMilterMessageMetrics is BenchmarkMilterMessage with metrics
// on: the difference is what counting costs a message.
func BenchmarkMilterMessageMetrics(b *testing.B) {
	m := benchDial(b, benchServerMetrics(b, policy.Default(), metrics.New("bench")))
	headers, body := japaneseMail(b)
	b.ReportAllocs()
	for b.Loop() {
		m.send(headers, strings.NewReader(body))
	}
}

// BenchmarkMilterAttachment1MB is one message with a 1 MB base64
// attachment per operation; the throughput is of the message's bytes.
func BenchmarkMilterAttachment1MB(b *testing.B) {
	const size = 1_000_000
	m := benchDial(b, benchServer(b))
	headers := [][2]string{
		{"From", "a@example.com"},
		{"To", "user@example.co.jp"},
		{"Subject", "資料送付"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "multipart/mixed; boundary=b"},
	}
	n, err := io.Copy(io.Discard, newBase64Body(size))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		m.send(headers, newBase64Body(size))
	}
}

// BenchmarkMilterMemory sends b.N messages, a tenth of them with a 100 KB
// attachment, over connections of 20 messages each, and reports how the
// process's memory changed from before to after (with a garbage
// collection and the freed memory returned first): it must not grow with
// the number of messages. The built-in configuration is used without the
// rate limit, whose store keeps each message of its window by design
// (bounded: 100000 keys, MaxEvents each). Run it long with
// -benchtime=100000x.
func BenchmarkMilterMemory(b *testing.B) {
	cfg, err := policy.Parse("bench.toml", bytes.Replace(policy.DefaultConfig, []byte("limit = 5"), []byte("limit = 5\nenabled = false"), 1))
	if err != nil {
		b.Fatal(err)
	}
	addr := benchServerWith(b, cfg)
	headers, body := japaneseMail(b)
	att := [][2]string{
		{"From", "a@example.com"},
		{"To", "user@example.co.jp"},
		{"Subject", "資料送付"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "multipart/mixed; boundary=b"},
	}
	settle := func() (rss, heap uint64) {
		// Twice: what sync.Pools hold survives one collection.
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return procRSS(b), ms.HeapInuse
	}
	// A first round, so that the pools and the caches are warm.
	m := benchConnect(b, addr)
	defer func() { m.s.Close() }()
	m.senders = 1000
	for range 2000 {
		m.send(headers, strings.NewReader(body))
	}
	rss0, heap0 := settle()
	g0 := runtime.NumGoroutine()
	b.ResetTimer()
	for i := range b.N {
		if i%20 == 0 {
			m.s.Close()
			m = benchConnect(b, addr)
			m.senders = 1000
		}
		if i%10 == 0 {
			m.send(att, newBase64Body(100_000))
		} else {
			m.send(headers, strings.NewReader(body))
		}
	}
	b.StopTimer()
	rss1, heap1 := settle()
	b.ReportMetric(float64(int64(rss1)-int64(rss0))/1024, "rss-growth-KiB")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/1024, "heap-growth-KiB")
	b.ReportMetric(float64(rss1)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()-g0), "goroutine-growth")
}

// procRSS reads the process's resident set size.
func procRSS(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
