package policy

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/sekisho/sekisho/policy/mime"
)

// Needs is what a rule asks of the engine and of the configuration,
// beyond being called at its stages. A rule's table declares it once, for
// its settings (ruleConfig.needs); the engine and the configuration read
// nothing else. A need that a method serves is checked against the method:
// a need declared without it, or the method without the need, stops the
// package at start (the methods of tables) or NewEngine (those of rules).
type Needs struct {
	// Stages are the stages the rule decides at, earliest first; they
	// are those its Rule's Stages returns. A first stage before end of
	// headers (connect, RCPT) is decided before a [[policy]] block by
	// kind of mail is chosen, and for connect before any block is.
	Stages []Stage
	// Vars are the placeholders its hits give its replies, besides the
	// common ones and {reason}, which every rule gives: -check refuses
	// other placeholders.
	Vars []string
	// Inspection: it reads Message.Inspection at end of body. The engine
	// inspects the message before the rule runs, and a configuration
	// that has such a rule gets the Gaps rule, so that what cannot be
	// read completely does not pass as clean.
	Inspection bool
	// Gaps: it is the rule that judges what could not be read. It is
	// turned on, with its defaults, wherever a rule that declares
	// Inspection is on without it, and runs before the other rules that
	// read the inspection, so that the reply to a message not read
	// completely says so. It reads the inspection too.
	Gaps bool
	// Stream: it reads the raw message as the MTA passes it on; it is a
	// Streamer.
	Stream bool
	// Parts: its stream also takes decoded parts from the inspection (the
	// stream is a mime.PartSink). Needs Stream.
	Parts Parts
	// Commit: it counts accepted mail; it is a Committer.
	Commit bool
	// Redaction: it knows what a password looks like, and the reasons of
	// its policy's verdicts go through its redact method.
	Redaction bool
	// Pairing: it has password candidates for the encrypted archives of a
	// message and may want its body text kept (its pairState method).
	Pairing bool
	// Network: it asks a server to decide; `sekisho scan` leaves it out
	// unless asked.
	Network bool
	// CrossCheck: its table checks itself against the other tables of its
	// rules (its crossCheck method).
	CrossCheck bool
	// Derive: its table has defaults that depend on what the file sets
	// (its derive method).
	Derive bool
}

// Parts says which parts the inspection hands a rule's stream.
type Parts int

const (
	// NoParts: the stream takes the raw message only.
	NoParts Parts = iota
	// PartsIfInspected: the stream takes the parts the inspection offers
	// when another rule made the engine inspect the message.
	PartsIfInspected
	// EveryPart: the stream judges nothing without the parts: the engine
	// inspects every message for it.
	EveryPart
)

// redactor serves Needs.Redaction.
type redactor interface {
	redact(reason string) string
}

// pairer serves Needs.Pairing: the password candidates kept for the pairs
// of a message, and how much of its body text to keep for passwords.
type pairer interface {
	pairState(ctx context.Context, m *Message) (passwords [][]byte, keepText int)
}

// crossChecker serves Needs.CrossCheck: the key of its table at fault and
// the message, "" when all is well; {prefix} in the message stands for the
// tables' prefix ("rules.", "policy[0].rules.").
type crossChecker interface {
	crossCheck(rules *RulesConfig) (key, msg string)
}

// deriver serves Needs.Derive: set says whether the file sets a key of
// the rule's table.
type deriver interface {
	derive(set func(key string) bool)
}

// served pairs each need with the method that serves it: on the table
// (checked for every registry entry at start) or on the built rule
// (checked by NewEngine).
var (
	tableServed = []struct {
		need  string
		has   func(Needs) bool
		iface reflect.Type
	}{
		{"CrossCheck", func(n Needs) bool { return n.CrossCheck }, reflect.TypeFor[crossChecker]()},
		{"Derive", func(n Needs) bool { return n.Derive }, reflect.TypeFor[deriver]()},
	}
	ruleServed = []struct {
		need  string
		has   func(Needs) bool
		iface reflect.Type
	}{
		{"Stream", func(n Needs) bool { return n.Stream }, reflect.TypeFor[Streamer]()},
		{"Commit", func(n Needs) bool { return n.Commit }, reflect.TypeFor[Committer]()},
		{"Redaction", func(n Needs) bool { return n.Redaction }, reflect.TypeFor[redactor]()},
		{"Pairing", func(n Needs) bool { return n.Pairing }, reflect.TypeFor[pairer]()},
	}
)

// checkNeeds checks what a table declares in itself, and against the
// methods of the table: it returns what is wrong, nil when nothing is.
// The registry checks each table with its defaults, NewEngine with the
// settings in force.
func checkNeeds(n Needs, table ruleConfig) error {
	if len(n.Stages) == 0 {
		return fmt.Errorf("declares no stage")
	}
	if !slices.IsSorted(n.Stages) || len(slices.Compact(slices.Clone(n.Stages))) != len(n.Stages) {
		return fmt.Errorf("declares stages %v: list each once, earliest first", n.Stages)
	}
	if n.Inspection && !slices.Contains(n.Stages, StageEOB) {
		return fmt.Errorf("declares Inspection without deciding at end of body, where the inspection is read")
	}
	if n.Gaps && !n.Inspection {
		return fmt.Errorf("declares Gaps without Inspection: the rule that judges what could not be read reads the inspection")
	}
	if n.Parts != NoParts && !n.Stream {
		return fmt.Errorf("declares Parts without Stream: parts go to the rule's stream")
	}
	t := reflect.TypeOf(table)
	for _, s := range tableServed {
		if err := served(s.need, s.has(n), t, s.iface); err != nil {
			return err
		}
	}
	return nil
}

// checkServed checks that a built rule has the methods of the needs its
// table declares, and declares the needs its methods serve.
func checkServed(n Needs, r Rule) error {
	t := reflect.TypeOf(r)
	for _, s := range ruleServed {
		if err := served(s.need, s.has(n), t, s.iface); err != nil {
			return err
		}
	}
	return nil
}

func served(need string, declared bool, t, iface reflect.Type) error {
	switch has := t.Implements(iface); {
	case declared && !has:
		return fmt.Errorf("%s declares %s but has no method %s", t, need, methods(iface))
	case has && !declared:
		return fmt.Errorf("%s has %s but does not declare %s in its table's needs", t, methods(iface), need)
	}
	return nil
}

// methods names the methods of an interface beyond Rule's.
func methods(iface reflect.Type) string {
	rule := reflect.TypeFor[Rule]()
	var out []string
	for i := range iface.NumMethod() {
		m := iface.Method(i).Name
		if _, ok := rule.MethodByName(m); !ok {
			out = append(out, m)
		}
	}
	return fmt.Sprint(out)
}

// partsOf returns the scanner a rule's stream gives the inspection, and an
// error when the stream and the rule's declared Parts disagree.
func partsOf(n Needs, sink StreamSink) (mime.PartSink, error) {
	sc, ok := sink.(mime.PartSink)
	switch {
	case n.Parts != NoParts && !ok:
		return nil, fmt.Errorf("the rule declares Parts, but its stream %T takes no part", sink)
	case n.Parts == NoParts && ok:
		return nil, fmt.Errorf("the rule's stream %T takes parts, but the rule does not declare Parts", sink)
	}
	return sc, nil
}
