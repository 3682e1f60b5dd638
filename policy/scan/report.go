package scan

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sekisho/sekisho/policy/mime"
)

// WriteText writes a report for a person to read.
func WriteText(w io.Writer, r Report) {
	fmt.Fprintf(w, "== %s\n", r.Source)
	if r.Error != "" && r.Envelope.Sender == "" && len(r.Envelope.Rcpts) == 0 {
		fmt.Fprintf(w, "  error       %s\n\n", r.Error)
		return
	}
	env := r.Envelope
	client := "unknown"
	if env.ClientIP != "" {
		client = env.ClientIP
	}
	if env.Helo != "" {
		client += " helo " + env.Helo
	}
	fmt.Fprintf(w, "  envelope    client %s, from <%s>, to %s\n", client, env.Sender, angle(env.Rcpts))
	if r.Error != "" {
		fmt.Fprintf(w, "  error       %s\n\n", r.Error)
		return
	}
	fmt.Fprintf(w, "  policy      %s\n", r.Policy)
	if r.Exempt != "" {
		fmt.Fprintf(w, "  exempt      %s\n", r.Exempt)
	}
	if in := r.Inspection; in != nil {
		if in.HasSubject {
			fmt.Fprintf(w, "  subject     %s%s\n", strconv.Quote(in.Subject), asciiNote(in.Subject))
		} else {
			fmt.Fprintf(w, "  subject     (none)\n")
		}
		fmt.Fprintf(w, "  body        %s\n", bodyFacts(in.Text))
		for _, a := range in.Attachments {
			fmt.Fprintf(w, "  attachment  part %s %s %s, %d bytes%s%s%s\n", a.Part, strconv.Quote(a.Filename), a.ContentType, a.Size,
				executable(a.Executable), alsoNamed(a.OtherNames), reading(a.Reading))
			writeArchive(w, a.Archive, "    ")
		}
		for _, g := range in.Uninspected {
			fmt.Fprintf(w, "  uninspected %s\n", g)
		}
		for _, p := range in.Problems {
			fmt.Fprintf(w, "  decoding    %s\n", p)
		}
	}
	for _, rc := range r.Recipients {
		if rc.Action == "continue" {
			fmt.Fprintf(w, "  rcpt        <%s> accepted\n", rc.Rcpt)
			continue
		}
		fmt.Fprintf(w, "  rcpt        <%s> %s %s (%s)\n", rc.Rcpt, rc.Action, rc.Reply, rc.Rule)
	}
	fmt.Fprintf(w, "  rules\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, rr := range r.Rules {
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", rr.Stage, ruleLabel(rr), findingText(rr))
	}
	tw.Flush()
	fmt.Fprintf(w, "  verdict     %s\n", r.Outcome)
	for _, h := range r.Outcome.Headers {
		fmt.Fprintf(w, "  header      %s\n", h)
	}
	if r.Outcome.Quarantine != "" {
		fmt.Fprintf(w, "  held        %s\n", r.Outcome.Quarantine)
	}
	fmt.Fprintln(w)
}

func angle(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = "<" + a + ">"
	}
	return strings.Join(out, ", ")
}

func asciiNote(s string) string {
	for _, r := range s {
		if r > 0x7f {
			return ""
		}
	}
	if mime.IsBlank(s) {
		return " (blank)"
	}
	return " (ASCII only)"
}

func bodyFacts(t mime.TextFacts) string {
	if t.Parts == 0 {
		return "no text part"
	}
	var facts []string
	facts = append(facts, fmt.Sprintf("%d text part(s)", t.Parts))
	switch {
	case !t.NonSpace:
		facts = append(facts, "blank")
	case t.NonASCII:
		facts = append(facts, "not ASCII only")
	default:
		facts = append(facts, "ASCII only")
	}
	if t.Sample != "" {
		facts = append(facts, strconv.Quote(t.Sample))
	}
	return strings.Join(facts, ", ")
}

func executable(kind string) string {
	if kind == "" {
		return ""
	}
	return ", executable (" + kind + ")"
}

// alsoNamed lists the other names a client could show for a file.
func alsoNamed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return ", also read as " + strings.Join(q, ", ")
}

// reading says which reading of the message found a file, when it is not
// Thunderbird's.
func reading(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func writeArchive(w io.Writer, a *mime.Archive, indent string) {
	if a == nil {
		return
	}
	state := ""
	if a.Encrypted {
		state += ", encrypted"
	}
	if a.Skipped != "" {
		state += ", not fully read: " + a.Skipped
	}
	fmt.Fprintf(w, "%s%s archive, %d entries%s\n", indent, a.Format, len(a.Entries), state)
	for _, e := range a.Entries {
		extra := executable(e.Executable)
		if e.Encrypted {
			extra += ", encrypted"
		}
		fmt.Fprintf(w, "%s  %s, %d bytes%s%s\n", indent, strconv.Quote(e.Name), e.Size, extra, alsoNamed(e.OtherNames))
		writeArchive(w, e.Archive, indent+"    ")
	}
}

func ruleLabel(rr RuleResult) string {
	if rr.Rcpt != "" {
		return rr.Rule + " <" + rr.Rcpt + ">"
	}
	return rr.Rule
}

func findingText(rr RuleResult) string {
	var s string
	switch {
	case rr.NotRun != "":
		return "not run: " + rr.NotRun
	case rr.Error != "":
		s = "error: " + rr.Error + "; gives " + rr.Action + " " + rr.Reply
	case !rr.Found:
		s = "nothing found"
	default:
		verb := "gives "
		if rr.DryRun {
			verb = "would give (dry run) "
		}
		s = verb + rr.Action
		if rr.Reply != "" {
			s += " " + rr.Reply
		}
		s += ": " + rr.Reason
	}
	if rr.Decided {
		s += "  <- decides"
	}
	if !rr.Reached {
		s += "  (not reached: decided earlier)"
	}
	return strings.TrimSpace(s)
}

// Summary counts the outcomes of many messages.
type Summary struct {
	Messages int
	Errors   int
	Outcomes map[string]int    // by outcome action
	Found    map[[3]string]int // messages in which rule found something, by rule, stage, action
	Decided  map[[3]string]int // messages decided by the rule, by rule, stage, action
	Policies map[string]int
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	return &Summary{Outcomes: map[string]int{}, Found: map[[3]string]int{}, Decided: map[[3]string]int{}, Policies: map[string]int{}}
}

// Add counts one report.
func (s *Summary) Add(r Report) {
	s.Messages++
	if r.Error != "" {
		s.Errors++
		return
	}
	s.Outcomes[r.Outcome.Action]++
	s.Policies[r.Policy]++
	seen := map[[3]string]bool{}
	for _, rr := range r.Rules {
		if !rr.Found {
			continue
		}
		action := rr.Action
		if rr.DryRun {
			action = "would-" + action
		}
		k := [3]string{rr.Rule, rr.Stage, action}
		if !seen[k] {
			seen[k] = true
			s.Found[k]++
		}
		if rr.Decided {
			s.Decided[k]++
		}
	}
}

// Refused is the number of messages that would not be delivered as they
// are.
func (s *Summary) Refused() int {
	return s.Messages - s.Errors - s.Outcomes["accept"]
}

// WriteText writes the summary table.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "== summary: %d messages", s.Messages)
	for _, a := range []string{"accept", "reject", "tempfail", "discard", "quarantine"} {
		if n := s.Outcomes[a]; n > 0 {
			fmt.Fprintf(w, ", %d %s", n, a)
		}
	}
	if s.Errors > 0 {
		fmt.Fprintf(w, ", %d not scanned (error)", s.Errors)
	}
	fmt.Fprintf(w, "; %d would not be delivered as sent\n", s.Refused())
	if len(s.Policies) > 1 {
		var names []string
		for p := range s.Policies {
			names = append(names, p)
		}
		slices.Sort(names)
		fmt.Fprintf(w, "  policies:")
		for _, p := range names {
			fmt.Fprintf(w, " %s %d", p, s.Policies[p])
		}
		fmt.Fprintln(w)
	}
	var keys [][3]string
	for k := range s.Found {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [3]string) int { return strings.Compare(strings.Join(a[:], " "), strings.Join(b[:], " ")) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  rule\tstage\taction\tfound in\tdecided\n")
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\n", k[0], k[1], k[2], s.Found[k], s.Decided[k])
	}
	tw.Flush()
}
