package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/scan"
)

// Exit statuses of `sekisho scan`.
const (
	scanAccepted = 0 // every message would be delivered as sent
	scanRefused  = 1 // some message would be refused, dropped or held
	scanError    = 2 // bad usage or configuration, or a message that could not be scanned
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// runScan is `sekisho scan`: saved messages through the policy, offline.
func runScan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sekisho scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sekisho scan [-config F] [-client-ip IP] [-helo H] [-from A] [-rcpt B]... [-json] [-network] [-compare OTHER.toml] [-summary] PATH...")
		fmt.Fprintln(stderr, "PATH is an .eml file, an mbox file, a Maildir or a directory of them.")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "configuration `file`; the built-in default when empty")
	compare := fs.String("compare", "", "a second configuration `file`: show the messages whose verdict differs")
	clientIP := fs.String("client-ip", "", "the SMTP client's `address`; unknown when empty (no DNSBL lookup, no network exemption)")
	helo := fs.String("helo", "", "the client's HELO `name`")
	from := fs.String("from", "", "envelope sender `address` (\"\" for the null sender); else Return-Path, else From")
	var rcpts listFlag
	fs.Var(&rcpts, "rcpt", "envelope recipient `address`, repeatable; else Delivered-To, else To and Cc")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	network := fs.Bool("network", false, "run the rules that need the network (dnsbl, virus, rate_limit on Redis); counts are never written")
	summaryOnly := fs.Bool("summary", false, "print only the summary")
	if err := fs.Parse(args); err != nil {
		return scanError
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return scanError
	}
	env := scan.Envelope{Helo: *helo, Rcpts: rcpts}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "from" {
			env.Sender, env.SenderOK = *from, true
		}
	})
	if *clientIP != "" {
		a, err := netip.ParseAddr(*clientIP)
		if err != nil {
			fmt.Fprintf(stderr, "-client-ip: %q is not an IP address\n", *clientIP)
			return scanError
		}
		env.ClientIP = a.Unmap()
	}
	main, closeMain, err := newScanner(*configPath, env, *network)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return scanError
	}
	defer closeMain()
	var other *scan.Scanner
	if *compare != "" {
		s, closeOther, err := newScanner(*compare, env, *network)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return scanError
		}
		defer closeOther()
		other = s
	}

	ctx := context.Background()
	sum, otherSum := scan.NewSummary(), scan.NewSummary()
	var differ []string
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	err = scan.Walk(fs.Args(), func(it scan.Item) error {
		r := main.Scan(ctx, it)
		sum.Add(r)
		var o scan.Report
		if other != nil {
			o = other.Scan(ctx, it)
			otherSum.Add(o)
			r.Compare = &o.Outcome
			r.Differs = r.Error == "" && o.Error == "" && !sameOutcome(r.Outcome, o.Outcome)
			if r.Differs {
				differ = append(differ, fmt.Sprintf("%s\n    %s\n    %s\n", r.Source, r.Outcome, o.Outcome))
			}
		}
		switch {
		case *asJSON:
			return enc.Encode(r)
		case *summaryOnly:
		case other != nil:
			if r.Error != "" {
				fmt.Fprintf(stdout, "== %s\n  error       %s\n\n", r.Source, r.Error)
			}
		default:
			scan.WriteText(stdout, r)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return scanError
	}
	if !*asJSON {
		if other != nil {
			fmt.Fprintf(stdout, "== %d of %d messages differ (%s, then %s)\n", len(differ), sum.Messages, name(main.Engine.Config()), name(other.Engine.Config()))
			for _, d := range differ {
				fmt.Fprint(stdout, d)
			}
			fmt.Fprintln(stdout)
		}
		if sum.Messages > 1 || *summaryOnly || other != nil {
			sum.WriteText(stdout)
		}
		if other != nil {
			fmt.Fprintf(stdout, "\nunder %s:\n", name(other.Engine.Config()))
			otherSum.WriteText(stdout)
		}
	}
	switch {
	case sum.Errors > 0:
		return scanError
	case sum.Refused() > 0:
		return scanRefused
	}
	return scanAccepted
}

// newScanner builds the engine of a configuration file for scanning.
func newScanner(path string, env scan.Envelope, network bool) (*scan.Scanner, func(), error) {
	cfg, err := policy.Load(path)
	if err != nil {
		return nil, nil, err
	}
	s := &scan.Scanner{Envelope: env, Clock: &scan.Clock{}}
	if !network {
		// Offline, nothing is shared: rate limits count in this process's
		// memory, on the messages' own dates.
		s.NotRun = cfg.Offline()
		s.Count = true
	}
	penv := &policy.Env{Logger: slog.New(slog.DiscardHandler), Now: s.Clock.Now}
	e, err := policy.NewEngine(cfg, penv)
	if err != nil {
		penv.Close()
		return nil, nil, fmt.Errorf("%s: %v", name(cfg), err)
	}
	s.Engine = e
	return s, func() { penv.Close() }, nil
}

func sameOutcome(a, b scan.Outcome) bool {
	return a.Action == b.Action && a.Rule == b.Rule && a.Reply == b.Reply && strings.Join(a.Headers, "\n") == strings.Join(b.Headers, "\n")
}
