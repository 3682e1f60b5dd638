package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/history"
	"github.com/sekisho/sekisho/policy/history/digest"
)

// digestSearchLimit bounds each search of the history for a digest run; a
// search that reaches it is reported, since recipients then miss some.
const digestSearchLimit = 100000

// digestSettle is how long after a decision a run with -state waits for
// it to be in the history (the daemon's writer queues it for a moment).
const digestSettle = time.Minute

// digestSendTimeout bounds each sendmail process.
const digestSendTimeout = time.Minute

// runDigest is `sekisho digest`: to each recipient, a mail listing what
// was held, refused or discarded for them since -since, piped to the local
// MTA's sendmail (one process per mail). Exit 0 when every digest went
// (or there was none to send), 1 when the history cannot be read or a
// digest could not be handed to sendmail (the others still go), 2 for
// bad usage.
func runDigest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sekisho digest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sekisho digest [-config F] [-since AGE|TIME] [-state FILE] [-domains D,...] [-sendmail CMD] [-from ADDR] [-lang ja|en|both] [-console-url URL] [-skip-rules R,...] [-dry-run]")
		fmt.Fprintln(stderr, "Mails each recipient the messages held (quarantine), refused (reject) or discarded for them; tempfails and dry runs are not listed.")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "configuration `file` whose [history] store is read")
	since := fs.String("since", "24h", "report decisions since `AGE` ago (24h, 7d) or since a TIME (2026-12-01, RFC 3339); with -state, only for the first run")
	state := fs.String("state", "", "`file` that keeps where the last run ended: the next run reports from there, so that runs at shifting times (a timer's random delay, a catch-up after downtime) neither miss nor repeat a decision")
	domains := fs.String("domains", "", "only recipients of these comma-separated `domains` get a digest (required, but with -dry-run: no digest goes outside the company)")
	sendmail := fs.String("sendmail", "/usr/sbin/sendmail -t -i", "`command` each mail is piped to, split on spaces; it must read the recipients from the header (-t)")
	from := fs.String("from", "", "From `address` of the digests; postmaster@ this host's name when empty")
	lang := fs.String("lang", "both", "`language` of the digests: ja, en, or both (Japanese first)")
	consoleURL := fs.String("console-url", "", "the console's held mail `URL`, named to recipients of held mail")
	skipRules := fs.String("skip-rules", "send_only", "comma-separated `rules` whose refusals are not listed")
	dryRun := fs.Bool("dry-run", false, "print the mails to stdout (as an mbox) instead of sending them")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	now := time.Now()
	start, err := parseWhen(*since, now, true)
	if err != nil || start.IsZero() {
		if err == nil {
			err = errors.New("a start is needed")
		}
		fmt.Fprintln(stderr, "sekisho digest: -since:", err)
		return 2
	}
	until := now
	if *state != "" {
		last, err := readDigestState(*state, now)
		if err != nil {
			fmt.Fprintln(stderr, "sekisho digest: -state:", err)
			return 1
		}
		if !last.IsZero() {
			// The history keeps microseconds: a window bound finer than
			// that would leave a record at its edge out of both runs.
			start = last.Truncate(time.Microsecond)
		}
		// A decision is written to the history a moment after it is
		// made: the window ends digestSettle ago, and the next one
		// starts there.
		until = now.Add(-digestSettle).Truncate(time.Microsecond)
		if until.Before(start) {
			until = start // runs a moment apart: the second reports nothing
		}
	}
	l, err := digest.ParseLang(*lang)
	if err != nil {
		fmt.Fprintln(stderr, "sekisho digest: -lang:", err)
		return 2
	}
	if *from == "" {
		host, err := os.Hostname()
		if err != nil {
			fmt.Fprintln(stderr, "sekisho digest: -from is needed:", err)
			return 2
		}
		*from = "postmaster@" + host
	}
	if !digest.ValidAddress(*from) {
		fmt.Fprintf(stderr, "sekisho digest: -from: %q is not a plain address\n", *from)
		return 2
	}
	argv := strings.Fields(*sendmail)
	if len(argv) == 0 && !*dryRun {
		fmt.Fprintln(stderr, "sekisho digest: -sendmail: no command")
		return 2
	}
	if len(splitList(*domains, true)) == 0 && !*dryRun {
		// Refused outbound mail would otherwise mail its outside
		// recipients what the company's users sent them.
		fmt.Fprintln(stderr, "sekisho digest: -domains: name the company's domains: digests go only to their recipients")
		return 2
	}
	filter := digest.Filter{Since: start, Until: until, Domains: splitList(*domains, true), SkipRules: splitList(*skipRules, false)}
	m := digest.Mail{From: *from, Lang: l, ConsoleURL: *consoleURL, Since: start, Now: now}

	cfg, err := policy.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg.History.Store == "" {
		fmt.Fprintf(stderr, "sekisho digest: %s: no [history] store: no decisions are kept\n", name(cfg))
		return 1
	}
	s, err := history.Open(cfg.History.Store, true)
	if err != nil {
		fmt.Fprintln(stderr, "sekisho digest:", err)
		return 1
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	recs, err := digestRecords(ctx, s, start, until, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sekisho digest:", err)
		return 1
	}
	if *state != "" && !*dryRun {
		// The history of [start, until) is read: the next run starts there.
		// A digest sendmail refuses below is reported, not sent again
		// with the next day's, so that one bad recipient does not hold
		// every other recipient's window back.
		if err := writeDigestState(*state, until); err != nil {
			fmt.Fprintln(stderr, "sekisho digest: -state:", err)
			return 1
		}
	}

	code := 0
	for _, d := range digest.Group(recs, filter) {
		msg, err := m.Compose(d)
		if err != nil {
			fmt.Fprintf(stderr, "sekisho digest: %s: %v\n", d.Rcpt, err)
			code = 1
			continue
		}
		if *dryRun {
			// mbox: a base64 body never has a line starting "From ".
			fmt.Fprintf(stdout, "From %s %s\n", *from, now.UTC().Format(time.ANSIC))
			stdout.Write(msg)
			fmt.Fprintln(stdout)
			continue
		}
		if err := sendMail(ctx, argv, msg); err != nil {
			fmt.Fprintf(stderr, "sekisho digest: %s: %v\n", d.Rcpt, err)
			code = 1
		}
	}
	return code
}

// readDigestState returns where the last run ended, the zero time when
// file does not exist yet. A time after now (a clock set back) is an
// error: the run would report nothing, or the future.
func readDigestState(file string, now time.Time) (time.Time, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", file, err)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("%s: the last run ended at %s, after now (%s): the clock was set back?", file, t.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return t, nil
}

// writeDigestState records in file that a run ended at t: written aside
// and renamed over it, so that a crash leaves the old time or the new one.
func writeDigestState(file string, t time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(tmp, t.UTC().Format(time.RFC3339Nano))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// digestRecords returns the records of [since, until) that a digest may
// list: one search per listed outcome, since the history holds every
// accepted message too; a record found twice (its subject names another
// outcome) is kept once.
func digestRecords(ctx context.Context, s history.Store, since, until time.Time, stderr io.Writer) ([]history.Record, error) {
	var recs []history.Record
	for _, action := range []string{"quarantine", "reject", "discard"} {
		found, err := s.Search(ctx, history.Query{Words: []string{action}, Since: since, Until: until, Limit: digestSearchLimit})
		if err != nil {
			return nil, err
		}
		if len(found) == digestSearchLimit {
			fmt.Fprintf(stderr, "sekisho digest: more than %d %s decisions: only the newest are listed\n", digestSearchLimit, action)
		}
		for _, r := range found {
			if r.Action == action {
				recs = append(recs, r)
			}
		}
	}
	// Newest first across the three searches, as each one is.
	slices.SortStableFunc(recs, func(a, b history.Record) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return recs, nil
}

// sendMail pipes one mail to the sendmail command, within
// digestSendTimeout; its error carries what the command said.
func sendMail(ctx context.Context, argv []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, digestSendTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(msg)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// A child that keeps the output open does not hold the run up.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if said := strings.TrimSpace(out.String()); said != "" {
			return fmt.Errorf("%s: %w: %s", argv[0], err, said)
		}
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

// splitList splits a comma-separated flag into its trimmed, non-empty
// items, in lower case if lower.
func splitList(s string, lower bool) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			if lower {
				f = strings.ToLower(f)
			}
			out = append(out, f)
		}
	}
	return out
}
