// Command sekisho-load is a load generator for a milter. It plays the MTA
// side of the milter protocol (version 6, as Postfix and Sendmail speak it)
// over several concurrent connections, sends several messages on each
// connection as an MTA does, and prints the throughput, the latency
// percentiles and a count of the milter's answers.
//
// It talks only to the milter address it is given, and speaks neither SMTP
// nor DNS: point it at a milter on the loopback interface (or on a test
// machine), never at a production MTA's milter under real traffic, since
// every message it sends counts in the milter's rate limits.
//
//	sekisho-load -milter inet:127.0.0.1:10030 -connections 8 -messages 2000 -body japanese
//
// The run ends after -messages messages or -duration, whichever comes
// first, or on SIGINT; the summary covers what was sent until then. The
// exit status is 0, 1 when any message met a protocol error, 2 on bad flags.
//
// -corpus DIR replays the .eml files of a directory (testdata/corpus/gen
// writes a mixed one). -pid PID (or NAME=PID, or NAME=PID,PID,… for a
// daemon of several processes; repeatable) reports the CPU
// time per message and the memory of processes under load, read from
// /proc: the milter, and clamd beside it. -baseline also runs a milter that
// does nothing, on the library sekisho is built on, in a child process,
// and alternates -rounds rounds of it and of the milter under test, so that
// drift of a shared machine cancels out; the summary gives both and their
// ratios:
//
//	sekisho-load -milter inet:127.0.0.1:10030 -pid $(pidof sekisho) -corpus /tmp/corpus \
//	    -baseline -rounds 4 -duration 10s -messages 0 -per-connection 20
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	client "github.com/d--j/go-milter"
	"golang.org/x/text/encoding/japanese"

	"github.com/sekisho/sekisho/policy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	network, addr string
	connections   int
	messages      int
	perConn       int
	rcpts         int
	sender        string
	rcptPatterns  []string
	duration      time.Duration
	timeout       time.Duration
	body          body
	corpus        []corpusMessage // replayed in turn when set
	rcptsSet      bool            // -rcpt-pattern was given: it overrides the corpus's recipients
	senderSet     bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sekisho-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	milterAddr := fs.String("milter", "inet:127.0.0.1:10030", "milter `address` (inet:HOST:PORT or unix:/PATH); meant to be a loopback address")
	var o options
	fs.IntVar(&o.connections, "connections", 8, "concurrent milter connections")
	fs.IntVar(&o.messages, "messages", 2000, "messages to send in all (0: until -duration)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "stop after this time even if -messages are not all sent (0: no limit)")
	fs.IntVar(&o.perConn, "per-connection", 10, "messages sent on one milter connection before it is closed and a new client connects")
	fs.IntVar(&o.rcpts, "rcpts", 2, "recipients per message")
	fs.StringVar(&o.sender, "sender", "sender{msg}@example.net", "envelope sender; {msg} is replaced by the message number")
	rcptPattern := fs.String("rcpt-pattern", "user{rcpt}@example.co.jp", "recipient address, or a comma-separated list of them used in turn; {rcpt} is replaced by the recipient number, {msg} by the message number")
	bodySpec := fs.String("body", "japanese", "message body: small (ASCII text), japanese (ISO-2022-JP text) or attachment:SIZE (MIME with a base64 attachment of SIZE bytes, e.g. attachment:1MiB)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "read and write timeout of a milter exchange")
	corpusDir := fs.String("corpus", "", "replay the .eml files of `dir` (envelope from Return-Path, To and Cc) instead of -body")
	var pids []string
	fs.Func("pid", "report CPU time per message and memory of process `PID` (or NAME=PID, or NAME=PID,PID,… summed; repeatable) from /proc", func(v string) error {
		if _, _, err := parsePID(v); err != nil {
			return err
		}
		pids = append(pids, v)
		return nil
	})
	baseline := fs.Bool("baseline", false, "also run a milter that does nothing (the protocol's floor) in a child process, alternating rounds with the milter under test")
	rounds := fs.Int("rounds", 1, "rounds of -messages or -duration each (alternating with the baseline)")
	serveNullAddr := fs.String("serve-null", "", "serve the do-nothing milter on `HOST:PORT` and never return (used by -baseline)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *serveNullAddr != "" {
		fmt.Fprintln(stderr, "sekisho-load:", serveNull(*serveNullAddr))
		return 1
	}
	fs.Visit(func(f *flag.Flag) {
		o.rcptsSet = o.rcptsSet || f.Name == "rcpt-pattern" || f.Name == "rcpts"
		o.senderSet = o.senderSet || f.Name == "sender"
	})
	o.rcptPatterns = strings.Split(*rcptPattern, ",")
	if err := o.check(*milterAddr, *bodySpec, fs.NArg()); err != nil {
		fmt.Fprintln(stderr, "sekisho-load:", err)
		return 2
	}
	if *rounds < 1 {
		fmt.Fprintln(stderr, "sekisho-load: -rounds must be at least 1")
		return 2
	}
	if *corpusDir != "" {
		var err error
		if o.corpus, err = loadCorpus(*corpusDir); err != nil {
			fmt.Fprintln(stderr, "sekisho-load: -corpus:", err)
			return 2
		}
		o.body.name = fmt.Sprintf("corpus %s (%d messages, %s on average)", *corpusDir, len(o.corpus), policy.Size(corpusAverage(o.corpus)))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !*baseline && len(pids) == 0 && *rounds == 1 {
		s := load(ctx, &o)
		s.print(stdout, &o, *milterAddr)
		if s.errors > 0 {
			return 1
		}
		return 0
	}
	return compare(ctx, stdout, stderr, &o, *milterAddr, pids, *baseline, *rounds)
}

// corpusAverage is the average size of the corpus's messages on the wire.
func corpusAverage(c []corpusMessage) int {
	total := 0
	for _, m := range c {
		total += len(m.body)
		for _, h := range m.headers {
			total += len(h[0]) + len(h[1]) + 4
		}
	}
	return total / len(c)
}

func (o *options) check(milterAddr, bodySpec string, nargs int) error {
	var err error
	if o.network, o.addr, err = policy.ParseListen(milterAddr); err != nil {
		return fmt.Errorf("-milter: %w", err)
	}
	if o.body, err = parseBody(bodySpec); err != nil {
		return fmt.Errorf("-body: %w", err)
	}
	switch {
	case nargs > 0:
		return errors.New("unexpected arguments")
	case o.connections < 1:
		return errors.New("-connections must be at least 1")
	case o.perConn < 1:
		return errors.New("-per-connection must be at least 1")
	case o.rcpts < 1:
		return errors.New("-rcpts must be at least 1")
	case o.messages < 0 || o.duration < 0:
		return errors.New("-messages and -duration cannot be negative")
	case o.messages == 0 && o.duration == 0:
		return errors.New("-messages and -duration are both 0: the run would never end")
	case o.timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	return nil
}

// body is the content of every message: its MIME header fields and its
// body in wire form (CRLF lines, as Postfix passes it on).
type body struct {
	name    string
	headers [][2]string
	text    []byte
}

// subject is a typical Japanese subject, encoded as Japanese mailers do
// (RFC 2047 B-encoding of ISO-2022-JP).
var subject = mime.BEncoding.Encode("ISO-2022-JP", iso2022jp("お打ち合わせ日程のご確認"))

const japaneseText = "山田様\r\n\r\nいつもお世話になっております。\r\n" +
	"来週のお打ち合わせですが、火曜日の午後三時からでいかがでしょうか。\r\n" +
	"資料は前日までにお送りいたします。\r\n\r\nよろしくお願いいたします。\r\n\r\n鈴木\r\n"

// iso2022jp encodes s for the wire.
func iso2022jp(s string) string {
	b, err := japanese.ISO2022JP.NewEncoder().String(s)
	if err != nil {
		panic(err) // the texts are constants and all encodable
	}
	return b
}

func parseBody(spec string) (body, error) {
	kind, arg, hasArg := strings.Cut(spec, ":")
	switch {
	case kind == "small" && !hasArg:
		return body{
			name: "small",
			headers: [][2]string{
				{"Content-Type", "text/plain; charset=us-ascii"},
				{"Content-Transfer-Encoding", "7bit"},
			},
			text: []byte("Hello,\r\n\r\nThe meeting moves to 3 pm tomorrow.\r\n\r\nRegards,\r\nTaro\r\n"),
		}, nil
	case kind == "japanese" && !hasArg:
		return body{
			name: "japanese",
			headers: [][2]string{
				{"Content-Type", "text/plain; charset=ISO-2022-JP"},
				{"Content-Transfer-Encoding", "7bit"},
			},
			text: []byte(iso2022jp(japaneseText)),
		}, nil
	case kind == "attachment" && hasArg:
		size, err := policy.ParseSize(arg)
		if err != nil || size <= 0 {
			return body{}, fmt.Errorf("%q: want attachment:SIZE with a positive size such as 1MiB", spec)
		}
		return attachmentBody(int(size)), nil
	}
	return body{}, fmt.Errorf("%q: want small, japanese or attachment:SIZE", spec)
}

// attachmentBody is a Japanese text part and a PDF of size bytes (decoded)
// in base64 lines of 76 characters (RFC 2045 section 6.8).
func attachmentBody(size int) body {
	const boundary = "=_sekisho-load_0001"
	pdf := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range pdf {
		pdf[i] = byte(r.Uint32())
	}
	copy(pdf, "%PDF-1.7\n")
	enc := base64.StdEncoding.EncodeToString(pdf)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/76*2 + 1024)
	b.WriteString("This is a multi-part message in MIME format.\r\n\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(iso2022jp(japaneseText))
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: application/pdf; name=\"report.pdf\"\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"report.pdf\"\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.WriteString(enc[:n])
		b.WriteString("\r\n")
		enc = enc[n:]
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return body{
		name: fmt.Sprintf("attachment:%s", policy.Size(size)),
		headers: [][2]string{
			{"Content-Type", "multipart/mixed; boundary=\"" + boundary + "\""},
		},
		text: []byte(b.String()),
	}
}

// macros is the macro table of one MTA connection. Unlike a MacroBag, a
// macro can be removed: Postfix sends no empty macro, and it sends the
// queue ID i first at end of headers.
type macros map[string]string

func (m macros) Get(name string) string { return m[name] }

func (m macros) GetEx(name string) (string, bool) { v, ok := m[name]; return v, ok }

// Outcomes of a message.
const (
	outAccept     = "accept"
	outQuarantine = "quarantine"
	outReject     = "reject"
	outTempfail   = "tempfail"
	outDiscard    = "discard"
	outError      = "error"
)

var outcomes = []string{outAccept, outQuarantine, outReject, outTempfail, outDiscard, outError}

// result is what became of one message.
type result struct {
	outcome string
	stage   string // the milter stage that decided: connect, helo, mail, rcpt, data, header, eoh, body, eom
	detail  string // the SMTP reply of a refusal, the text of an error
	// eom is the end-of-message round trip (zero when the message did not
	// get that far), total the transaction from MAIL to the last reply.
	eom, total time.Duration
	refused    []string // replies to recipients refused while the message went on
}

// key groups results in the summary.
type key struct{ outcome, stage, detail string }

// stats are the results of one worker, merged at the end.
type stats struct {
	counts     map[key]int
	refused    map[string]int
	eom, total []time.Duration
	messages   int
	errors     int
	elapsed    time.Duration
}

func newStats() *stats {
	return &stats{counts: map[key]int{}, refused: map[string]int{}}
}

func (s *stats) add(r result) {
	s.messages++
	s.counts[key{r.outcome, r.stage, r.detail}]++
	if r.outcome == outError {
		s.errors++
		return
	}
	s.total = append(s.total, r.total)
	if r.eom > 0 {
		s.eom = append(s.eom, r.eom)
	}
	for _, reply := range r.refused {
		s.refused[reply]++
	}
}

func (s *stats) merge(o *stats) {
	for k, n := range o.counts {
		s.counts[k] += n
	}
	for k, n := range o.refused {
		s.refused[k] += n
	}
	s.eom = append(s.eom, o.eom...)
	s.total = append(s.total, o.total...)
	s.messages += o.messages
	s.errors += o.errors
}

// load runs the workers and gathers their results.
func load(ctx context.Context, o *options) *stats {
	c := client.NewClient(o.network, o.addr,
		client.WithActions(client.AllClientSupportedActionMasks),
		client.WithReadTimeout(o.timeout),
		client.WithWriteTimeout(o.timeout))
	g := &generator{opts: o, client: c, ctx: ctx, runID: time.Now().Unix()}
	start := time.Now()
	if o.duration > 0 {
		g.deadline = start.Add(o.duration)
	}
	all := newStats()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.connections {
		wg.Go(func() {
			w := &worker{g: g, stats: newStats()}
			w.run()
			mu.Lock()
			all.merge(w.stats)
			mu.Unlock()
		})
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return all
}

// generator is what the workers share.
type generator struct {
	opts     *options
	client   *client.Client
	ctx      context.Context
	deadline time.Time
	runID    int64
	msgs     atomic.Int64 // messages claimed
	conns    atomic.Int64 // connections opened
}

// next claims the number of the next message, false when the run is over.
func (g *generator) next() (int, bool) {
	if g.ctx.Err() != nil || (!g.deadline.IsZero() && !time.Now().Before(g.deadline)) {
		return 0, false
	}
	n := g.msgs.Add(1)
	if g.opts.messages > 0 && n > int64(g.opts.messages) {
		return 0, false
	}
	return int(n), true
}

// worker is one MTA process: it sends messages over one milter connection
// at a time and opens a new one for a new client every -per-connection
// messages, or after an error.
type worker struct {
	g      *generator
	stats  *stats
	s      *client.ClientSession
	macros macros
	helo   string
	sent   int // messages on the current connection
}

func (w *worker) run() {
	defer w.close()
	for {
		n, ok := w.g.next()
		if !ok {
			return
		}
		r := w.message(n)
		w.stats.add(r)
		if r.outcome == outError {
			w.close()
			// Do not spin against a milter that is down.
			select {
			case <-w.g.ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if w.sent >= w.g.opts.perConn {
			w.close()
		}
	}
}

func (w *worker) close() {
	if w.s != nil {
		w.s.Close()
		w.s = nil
	}
}

// connect opens a milter connection for a new SMTP client. Client
// addresses cycle through 192.0.2.0/24 (TEST-NET-1, RFC 5737). A refusal
// at connect or HELO is the result of the message that was to be sent.
func (w *worker) connect() (result, bool) {
	c := w.g.conns.Add(1)
	ip := fmt.Sprintf("192.0.2.%d", (c-1)%254+1)
	port := uint16(40000 + c%20000)
	// Postfix's macros for a client without reverse DNS that did not
	// authenticate: {auth_authen} is not sent at all.
	w.macros = macros{
		"j":                    "mx.example.co.jp",
		"v":                    "Postfix 3.7.11",
		"{daemon_name}":        "smtpd",
		"{daemon_addr}":        "192.0.2.254",
		"{client_addr}":        ip,
		"{client_port}":        fmt.Sprint(port),
		"{client_name}":        "unknown",
		"{client_ptr}":         "unknown",
		"{mail_mailer}":        "smtp",
		"{rcpt_mailer}":        "local",
		"{if_addr}":            "192.0.2.254",
		"{client_connections}": "1",
	}
	s, err := w.g.client.Session(w.macros)
	if err != nil {
		return errResult("connect", err), false
	}
	w.s, w.sent = s, 0
	act, err := s.Conn("unknown", client.FamilyInet, port, ip)
	if r, done := w.step("connect", act, err); done {
		w.close()
		return r, false
	}
	w.helo = fmt.Sprintf("client%d.example.net", c)
	act, err = s.Helo(w.helo)
	if r, done := w.step("helo", act, err); done {
		w.close()
		return r, false
	}
	return result{}, true
}

// step turns the milter's answer at a stage into the message's result
// when it ends the message; done is false when the message goes on.
func (w *worker) step(stage string, act *client.Action, err error) (r result, done bool) {
	if err != nil {
		return errResult(stage, err), true
	}
	switch act.Type {
	case client.ActionContinue, client.ActionSkip:
		return result{}, false
	case client.ActionAccept:
		return result{outcome: outAccept, stage: stage}, true
	case client.ActionDiscard:
		return result{outcome: outDiscard, stage: stage}, true
	}
	return result{outcome: refusal(act.SMTPReply), stage: stage, detail: act.SMTPReply}, true
}

// refusal classifies a refusal by its SMTP reply code.
func refusal(reply string) string {
	if strings.HasPrefix(reply, "4") {
		return outTempfail
	}
	return outReject
}

func errResult(stage string, err error) result {
	return result{outcome: outError, stage: stage, detail: err.Error()}
}

// message sends message n the way Postfix does after the client's DATA:
// envelope, header fields one by one, end of headers, body chunks, end of
// message.
func (w *worker) message(n int) result {
	if w.s == nil {
		if r, ok := w.connect(); !ok {
			return r
		}
	}
	w.sent++
	s := w.s
	start := time.Now()
	r := w.transaction(n)
	if r.outcome != outError && r.stage != "eom" {
		// The MTA ends the transaction (RSET or the next MAIL).
		if err := s.Abort(nil); err != nil {
			return errResult("abort", err)
		}
	}
	r.total = time.Since(start)
	return r
}

// rcptList returns the recipients of message n.
func (o *options) rcptList(n int, cm *corpusMessage) []string {
	if cm != nil && len(cm.rcpts) > 0 && !o.rcptsSet {
		return cm.rcpts
	}
	msg := fmt.Sprint(n)
	var out []string
	for i := 1; i <= o.rcpts; i++ {
		pattern := o.rcptPatterns[(i-1)%len(o.rcptPatterns)]
		out = append(out, strings.ReplaceAll(strings.ReplaceAll(pattern, "{rcpt}", fmt.Sprint(i)), "{msg}", msg))
	}
	return out
}

func (w *worker) transaction(n int) result {
	o, s, m := w.g.opts, w.s, w.macros
	var cm *corpusMessage
	if len(o.corpus) > 0 {
		cm = &o.corpus[(n-1)%len(o.corpus)]
	}
	msg := fmt.Sprint(n)
	sender := strings.ReplaceAll(o.sender, "{msg}", msg)
	if cm != nil && cm.sender != "" && !o.senderSet {
		sender = cm.sender
	}
	delete(m, "i")
	delete(m, "{rcpt_addr}")
	delete(m, "{rcpt_host}")
	m["{mail_addr}"] = sender
	m["{mail_host}"] = domain(sender)
	act, err := s.Mail("<"+sender+">", "")
	if r, done := w.step("mail", act, err); done {
		return r
	}
	var accepted, refused []string
	for _, rcpt := range o.rcptList(n, cm) {
		m["{rcpt_addr}"] = rcpt
		m["{rcpt_host}"] = domain(rcpt)
		act, err := s.Rcpt("<"+rcpt+">", "")
		if err != nil {
			return errResult("rcpt", err)
		}
		if act.StopProcessing() {
			refused = append(refused, act.SMTPReply)
			continue
		}
		if r, done := w.step("rcpt", act, err); done {
			return r
		}
		accepted = append(accepted, rcpt)
	}
	if len(accepted) == 0 {
		// Every recipient refused: the MTA refuses DATA, and the first
		// refusal stands for the message.
		return result{outcome: refusal(refused[0]), stage: "rcpt", detail: refused[0]}
	}

	act, err = s.DataStart()
	if r, done := w.step("data", act, err); done {
		return r
	}
	received := [2]string{"Received", fmt.Sprintf("from %s (unknown [%s])\r\n\tby mx.example.co.jp (Postfix) with ESMTP id %s\r\n\tfor <%s>; %s",
		w.helo, m["{client_addr}"], queueID(w.g.runID, n), accepted[0], time.Now().Format(time.RFC1123Z))}
	headers := [][2]string{received}
	text := o.body.text
	if cm != nil {
		headers = append(headers, cm.headers...)
		text = cm.body
	} else {
		headers = append(headers, [][2]string{
			{"Date", time.Now().Format(time.RFC1123Z)},
			{"From", sender},
			{"To", strings.Join(accepted, ", ")},
			{"Subject", subject},
			{"Message-ID", fmt.Sprintf("<%d.%d@example.net>", w.g.runID, n)},
			{"MIME-Version", "1.0"},
		}...)
		headers = append(headers, o.body.headers...)
	}
	for _, h := range headers {
		act, err := s.HeaderField(h[0], h[1], nil)
		if r, done := w.step("header", act, err); done {
			return r
		}
	}
	m["i"] = queueID(w.g.runID, n)
	act, err = s.HeaderEnd()
	if r, done := w.step("eoh", act, err); done {
		return r
	}
	for len(text) > 0 && !s.Skip() {
		chunk := text[:min(len(text), int(client.DataSize64K))]
		text = text[len(chunk):]
		act, err := s.BodyChunk(chunk)
		if r, done := w.step("body", act, err); done {
			return r
		}
	}
	eom := time.Now()
	mods, act, err := s.End()
	r, done := w.step("eom", act, err)
	if !done {
		// Postfix takes a continue at end of message as accept.
		r = result{outcome: outAccept, stage: "eom"}
	}
	if r.outcome == outAccept {
		for _, mod := range mods {
			if mod.Type == client.ActionQuarantine {
				r.outcome, r.detail = outQuarantine, mod.Reason
			}
		}
	}
	r.stage = "eom"
	if r.outcome != outError {
		r.eom = time.Since(eom)
	}
	r.refused = refused
	return r
}

func domain(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// queueID makes a Postfix-like queue ID unique within the run.
func queueID(run int64, n int) string {
	return fmt.Sprintf("%X%06X", run&0xfffff, n)
}

// rate is the throughput in messages per second.
func (s *stats) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.messages) / s.elapsed.Seconds()
}

// print writes the summary.
func (s *stats) print(w io.Writer, o *options, milterAddr string) {
	fmt.Fprintf(w, "milter %s: %d connections, %d messages per connection, %d recipients, body %s (%s)\n",
		milterAddr, o.connections, o.perConn, o.rcpts, o.body.name, policy.Size(len(o.body.text)))
	fmt.Fprintf(w, "messages %d in %.3fs: %.1f messages/s\n\n", s.messages, s.elapsed.Seconds(), s.rate())

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tmessages\tp50\tp90\tp99\tmax\t")
	for _, l := range []struct {
		name string
		d    []time.Duration
	}{{"end-of-message", s.eom}, {"transaction", s.total}} {
		slices.Sort(l.d)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", l.name, len(l.d),
			ms(percentile(l.d, 0.50)), ms(percentile(l.d, 0.90)), ms(percentile(l.d, 0.99)), ms(percentile(l.d, 1)))
	}
	tw.Flush()
	fmt.Fprintln(w)
	s.printOutcomes(w)
}

// printOutcomes writes the table of outcomes and the refused recipients.
func (s *stats) printOutcomes(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "outcome\tcount\tstage\treply")
	keys := make([]key, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := slices.Index(outcomes, a.outcome) - slices.Index(outcomes, b.outcome); c != 0 {
			return c
		}
		if c := s.counts[b] - s.counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a.stage+a.detail, b.stage+b.detail)
	})
	for _, out := range outcomes {
		shown := false
		for _, k := range keys {
			if k.outcome == out {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", out, s.counts[k], k.stage, k.detail)
				shown = true
			}
		}
		if !shown {
			fmt.Fprintf(tw, "%s\t0\t\t\n", out)
		}
	}
	tw.Flush()

	if len(s.refused) > 0 {
		fmt.Fprintln(w, "\nrecipients refused in messages that went on:")
		replies := make([]string, 0, len(s.refused))
		for r := range s.refused {
			replies = append(replies, r)
		}
		slices.Sort(replies)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, r := range replies {
			fmt.Fprintf(tw, "  %d\t%s\n", s.refused[r], r)
		}
		tw.Flush()
	}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
