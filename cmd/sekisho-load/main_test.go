package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
)

// startMilter serves the built-in configuration on a free loopback port.
func startMilter(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := policy.NewEngine(policy.Default(), &policy.Env{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(e, log)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "inet:" + ln.Addr().String()
}

// summary is the parsed output of a run.
type summary struct {
	messages int
	latency  map[string]int            // messages measured per latency line
	outcomes map[string]int            // count per outcome
	replies  map[string]map[string]int // outcome → "stage reply" → count
	text     string
}

var messagesLine = regexp.MustCompile(`(?m)^messages (\d+) in [0-9.]+s: [0-9.]+ messages/s$`)

func runLoad(t *testing.T, args ...string) (summary, int) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(args, &stdout, &stderr)
	s := summary{latency: map[string]int{}, outcomes: map[string]int{}, replies: map[string]map[string]int{}, text: stdout.String()}
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	m := messagesLine.FindStringSubmatch(s.text)
	if m == nil {
		t.Fatalf("no messages line in:\n%s", s.text)
	}
	s.messages, _ = strconv.Atoi(m[1])
	for line := range strings.Lines(s.text) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		switch {
		case err != nil:
		case f[0] == "end-of-message" || f[0] == "transaction":
			s.latency[f[0]] = n
		case slices.Contains(outcomes, f[0]):
			s.outcomes[f[0]] += n
			if n > 0 {
				if s.replies[f[0]] == nil {
					s.replies[f[0]] = map[string]int{}
				}
				s.replies[f[0]][strings.Join(f[2:], " ")] += n
			}
		}
	}
	return s, code
}

// check verifies that the counts add up: every message has one outcome,
// every message that was not an error has a transaction latency.
func (s summary) check(t *testing.T, messages int) {
	t.Helper()
	if s.messages != messages {
		t.Errorf("messages = %d, want %d\n%s", s.messages, messages, s.text)
	}
	sum := 0
	for _, n := range s.outcomes {
		sum += n
	}
	if sum != s.messages || len(s.outcomes) != len(outcomes) {
		t.Errorf("outcome counts add up to %d over %d outcomes, want %d over %d\n%s", sum, len(s.outcomes), s.messages, len(outcomes), s.text)
	}
	if got, want := s.latency["transaction"], s.messages-s.outcomes[outError]; got != want {
		t.Errorf("transaction latency over %d messages, want %d\n%s", got, want, s.text)
	}
	if _, ok := s.latency["end-of-message"]; !ok {
		t.Errorf("no end-of-message latency\n%s", s.text)
	}
}

func TestLoadOutcomes(t *testing.T) {
	addr := startMilter(t)
	for _, tt := range []struct {
		name    string
		args    []string
		want    map[string]int // "outcome stage reply" → count
		wantEOM int
	}{
		{
			name:    "japanese accepted",
			args:    []string{"-body", "japanese"},
			want:    map[string]int{"accept eom": 40},
			wantEOM: 40,
		},
		{
			name:    "ascii body refused at end of message",
			args:    []string{"-body", "small"},
			want:    map[string]int{"reject eom 550 5.7.1 The body has no Japanese (non-ASCII) text": 40},
			wantEOM: 40,
		},
		{
			name: "send-only recipients refused",
			args: []string{"-rcpt-pattern", "noreply@example.co.jp"},
			want: map[string]int{"reject rcpt 550 5.1.1 User unknown": 40},
		},
		{
			name:    "attachment within the limit",
			args:    []string{"-body", "attachment:100KB", "-rcpts", "1"},
			want:    map[string]int{"accept eom": 40},
			wantEOM: 40,
		},
		{
			// One sender to one recipient: the sixth and later messages
			// within the window are over the limit of 5.
			name: "rate limit tempfails",
			args: []string{"-sender", "alice@example.net", "-rcpt-pattern", "bob@example.co.jp", "-rcpts", "1", "-connections", "1"},
			want: map[string]int{
				"accept eom": 5,
				"tempfail rcpt 450 4.7.1 Too many messages to <bob@example.co.jp>, try again later": 35,
			},
			wantEOM: 5,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-milter", addr, "-connections", "2", "-messages", "40", "-per-connection", "7", "-duration", "1m"}, tt.args...)
			s, code := runLoad(t, args...)
			if code != 0 {
				t.Errorf("exit status %d", code)
			}
			s.check(t, 40)
			got := map[string]int{}
			for out, replies := range s.replies {
				for r, n := range replies {
					got[strings.TrimSpace(out+" "+r)] = n
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("outcomes %v, want %v\n%s", got, tt.want, s.text)
			}
			for k, n := range tt.want {
				if got[k] != n {
					t.Errorf("%q: %d, want %d\n%s", k, got[k], n, s.text)
				}
			}
			if s.latency["end-of-message"] != tt.wantEOM {
				t.Errorf("end-of-message latency over %d messages, want %d", s.latency["end-of-message"], tt.wantEOM)
			}
		})
	}
}

func TestLoadRefusedRecipientsCounted(t *testing.T) {
	addr := startMilter(t)
	// Recipient 1 is send-only, recipient 2 a person: each message goes on
	// with one recipient.
	s, code := runLoad(t, "-milter", addr, "-connections", "2", "-messages", "20", "-rcpt-pattern", "noreply@example.co.jp,user{rcpt}@example.co.jp", "-rcpts", "2")
	if code != 0 {
		t.Errorf("exit status %d", code)
	}
	s.check(t, 20)
	if s.outcomes[outAccept] != 20 {
		t.Errorf("accepted %d messages, want 20\n%s", s.outcomes[outAccept], s.text)
	}
	if !regexp.MustCompile(`(?m)^recipients refused in messages that went on:\n\s+20\s+550 5\.1\.1 User unknown$`).MatchString(s.text) {
		t.Errorf("the refused recipients are not counted:\n%s", s.text)
	}
}

func TestLoadStopsAtDuration(t *testing.T) {
	addr := startMilter(t)
	start := time.Now()
	s, code := runLoad(t, "-milter", addr, "-connections", "2", "-messages", "0", "-duration", "300ms")
	if code != 0 {
		t.Errorf("exit status %d", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 300ms run took %s", d)
	}
	if s.messages == 0 {
		t.Fatalf("no message sent\n%s", s.text)
	}
	s.check(t, s.messages)
}

func TestLoadMilterDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "inet:" + ln.Addr().String()
	ln.Close()
	s, code := runLoad(t, "-milter", addr, "-connections", "2", "-messages", "4")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	s.check(t, 4)
	if s.outcomes[outError] != 4 {
		t.Errorf("errors = %d, want 4\n%s", s.outcomes[outError], s.text)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-body", "large"},
		{"-body", "attachment:"},
		{"-body", "attachment:0"},
		{"-milter", "127.0.0.1:10030"},
		{"-messages", "0", "-duration", "0"},
		{"-connections", "0"},
		{"extra"},
	} {
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit status %d, want 2", args, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("%q: no error message", args)
		}
	}
}

// TestMain lets the test binary be the baseline's child process, as
// sekisho-load is for -baseline: it runs itself with -serve-null.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-serve-null" {
		if err := serveNull(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLoadBaseline alternates rounds against the milter under test with
// the do-nothing milter in a child process, measures both from /proc and
// prints the rounds, their medians and the ratios.
func TestLoadBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs thousands of messages against two milters, which takes seconds: run without -short")
	}
	addr := startMilter(t)
	var stdout, stderr strings.Builder
	// /proc counts CPU time in 10 ms ticks: a round must take well over
	// one, on a busy machine too, for its CPU per message to be above
	// zero and its ratios finite (30 messages took less).
	code := run([]string{"-milter", addr, "-pid", strconv.Itoa(os.Getpid()), "-baseline", "-rounds", "2",
		"-messages", "3000", "-connections", "2", "-per-connection", "50", "-duration", "2m"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit status %d\n%s\n%s", code, out, stderr.String())
	}
	// Each round: the baseline's row, then the target's, 3000 messages each,
	// with a CPU time per message and memory read from /proc.
	row := regexp.MustCompile(`(?m)^\s+(\d)\s+(\S+)\s+3000\s+[0-9.]+\s+(baseline|target)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$`)
	rows := row.FindAllStringSubmatch(out, -1)
	if len(rows) != 4 {
		t.Fatalf("%d round rows, want 4:\n%s", len(rows), out)
	}
	for i, r := range rows {
		wantMilter, wantProc := "baseline", "baseline"
		if i%2 == 1 {
			wantMilter, wantProc = addr, "target"
		}
		cpu, _ := strconv.ParseFloat(r[4], 64)
		rss, _ := strconv.ParseFloat(r[5], 64)
		if r[1] != strconv.Itoa(i/2+1) || r[2] != wantMilter || r[3] != wantProc || cpu <= 0 || rss <= 0 {
			t.Errorf("row %q: want round %d of %s measured as %s, CPU and RSS above zero", r[0], i/2+1, wantMilter, wantProc)
		}
	}
	positive := `([0-9]+\.[0-9]{2})`
	ratio := regexp.MustCompile(`(?m)^ratio to the baseline: throughput ` + positive + `, CPU per message ` + positive + ` \(target\)$`)
	paired := regexp.MustCompile(`(?m)^ratio of each round to the baseline round before it \(median, lowest-highest of 2\): throughput ` +
		positive + ` \(` + positive + `-` + positive + `\), CPU per message ` + positive + ` \(` + positive + `-` + positive + `\)$`)
	for _, re := range []*regexp.Regexp{ratio, paired} {
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no line matching %s in:\n%s", re, out)
		}
		for _, v := range m[1:] {
			if f, _ := strconv.ParseFloat(v, 64); f <= 0 {
				t.Errorf("ratio %s in %q", v, m[0])
			}
		}
	}
	m := paired.FindStringSubmatch(out)
	f := make([]float64, len(m))
	for i, v := range m[1:] {
		f[i+1], _ = strconv.ParseFloat(v, 64)
	}
	for _, i := range []int{1, 4} {
		if f[i+1] > f[i] || f[i] > f[i+2] {
			t.Errorf("median outside its range: %q", m[0])
		}
	}
}

func TestParsePID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		pids []int
		err  bool
	}{
		{"42", "target", []int{42}, false},
		{"clamd=7", "clamd", []int{7}, false},
		{"rspamd=1,2,3", "rspamd", []int{1, 2, 3}, false},
		{"rspamd=1,,3", "", nil, true},
		{"clamd=", "", nil, true},
	} {
		name, pids, err := parsePID(tc.in)
		if (err != nil) != tc.err || name != tc.name || !slices.Equal(pids, tc.pids) {
			t.Errorf("parsePID(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, name, pids, err, tc.name, tc.pids, tc.err)
		}
	}
}
