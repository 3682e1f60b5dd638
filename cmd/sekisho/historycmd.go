package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/history"
)

// runHistory is `sekisho history`: the decisions kept by [history],
// searched from the shell. Exit 0 with or without matches, 1 when the
// history cannot be read, 2 for bad usage.
func runHistory(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sekisho history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sekisho history [-config F] [-q QUERY] [-since AGE|TIME] [-until TIME] [-limit N] [-json] [ID]")
		fmt.Fprintln(stderr, "QUERY words (all must match) are addresses (sender or recipient), queue ids, words of the subject, rules, outcomes, clients or hosts; \"quoted words\" stay together.")
		fmt.Fprintln(stderr, "With an ID (as listed), prints that decision in full.")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "configuration `file` whose [history] store is read")
	query := fs.String("q", "", "search `words`")
	since := fs.String("since", "", "only decisions since `AGE` ago (24h, 7d) or since a TIME (2026-12-01, 2026-12-01T09:00:00+09:00)")
	until := fs.String("until", "", "only decisions before `TIME`")
	limit := fs.Int("limit", 100, "at most `N` decisions, newest first")
	asJSON := fs.Bool("json", false, "print one JSON object per decision")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	now := time.Now()
	q := history.Query{Words: history.ParseQuery(*query), Limit: *limit}
	var err error
	if q.Since, err = parseWhen(*since, now, true); err != nil {
		fmt.Fprintln(stderr, "sekisho history: -since:", err)
		return 2
	}
	if q.Until, err = parseWhen(*until, now, false); err != nil {
		fmt.Fprintln(stderr, "sekisho history: -until:", err)
		return 2
	}
	var id int64
	if fs.NArg() == 1 {
		if id, err = strconv.ParseInt(fs.Arg(0), 10, 64); err != nil || id <= 0 {
			fmt.Fprintf(stderr, "sekisho history: %q is not a decision's ID\n", fs.Arg(0))
			return 2
		}
	}
	cfg, err := policy.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg.History.Store == "" {
		fmt.Fprintf(stderr, "sekisho history: %s: no [history] store: no decisions are kept\n", name(cfg))
		return 1
	}
	s, err := history.Open(cfg.History.Store, true)
	if err != nil {
		fmt.Fprintln(stderr, "sekisho history:", err)
		return 1
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []history.Record
	if id > 0 {
		r, err := s.Get(ctx, id)
		if err != nil {
			fmt.Fprintf(stderr, "sekisho history: %d: %v\n", id, err)
			return 1
		}
		recs = []history.Record{r}
	} else if recs, err = s.Search(ctx, q); err != nil {
		fmt.Fprintln(stderr, "sekisho history:", err)
		return 1
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, r := range recs {
			enc.Encode(r)
		}
	case id > 0:
		writeRecord(stdout, recs[0])
	default:
		for _, r := range recs {
			fmt.Fprintln(stdout, historyLine(r))
		}
	}
	return 0
}

// parseWhen parses -since and -until: an age before now (24h, 7d; only
// for since), a date or an RFC 3339 time; "" is no bound.
func parseWhen(s string, now time.Time, age bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if age {
		if n, ok := strings.CutSuffix(s, "d"); ok {
			if days, err := strconv.Atoi(n); err == nil && days >= 0 {
				return now.AddDate(0, 0, -days), nil
			}
		}
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return now.Add(-d), nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if age {
		return time.Time{}, fmt.Errorf("%q: want an age (24h, 7d), a date (2026-12-01) or an RFC 3339 time", s)
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-12-01) or an RFC 3339 time", s)
}

// historyLine is one decision on one line: ID, time, host, queue id,
// outcome and rule, envelope, subject.
func historyLine(r history.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s %s %s", r.ID, r.Time.Local().Format("2006-01-02T15:04:05"), r.Host, orDash(r.QueueID), outcome(r))
	if r.Rule != "" {
		b.WriteString(" rule=" + r.Rule)
	}
	fmt.Fprintf(&b, " from=<%s> to=<%s>", r.Sender, strings.Join(r.Rcpts, ">,<"))
	if r.Subject != "" {
		b.WriteString(" subject=" + strconv.Quote(r.Subject))
	}
	return b.String()
}

// outcome is the record's action, "would" ones marked.
func outcome(r history.Record) string {
	if r.DryRun && r.Action != "accept" && r.Action != "tag" {
		return "dry-run:" + r.Action
	}
	return r.Action
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeRecord prints one decision in full.
func writeRecord(w io.Writer, r history.Record) {
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-12s %s\n", k+":", v)
		}
	}
	field("id", strconv.FormatInt(r.ID, 10))
	field("time", r.Time.Local().Format(time.RFC3339))
	field("host", r.Host)
	field("queue_id", r.QueueID)
	field("outcome", outcome(r))
	field("stage", r.Stage)
	field("policy", r.Policy)
	field("rule", r.Rule)
	field("reason", r.Reason)
	field("reply", r.Reply)
	field("client", r.Client)
	field("helo", r.Helo)
	fmt.Fprintf(w, "%-12s <%s>\n", "sender:", r.Sender)
	for _, rc := range r.Rcpts {
		field("recipient", rc)
	}
	field("subject", r.Subject)
	for _, a := range r.Attachments {
		field("attachment", a)
	}
}
