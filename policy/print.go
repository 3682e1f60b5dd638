package policy

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/pelletier/go-toml/v2"
)

// Marshal writes the configuration as TOML with every default filled in:
// the values in force. Rule tables come in evaluation order, each under the
// name the file used, so that parsing the output gives the same
// configuration. A [[policy]] block shows, in full, the rule tables it
// changes; it inherits the others.
func (c *Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# The configuration in force, every default filled in (from %s).\n", c.File)
	top := *c
	top.Rules = RulesConfig{}
	top.Policies = nil
	out, err := toml.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	b.Write(withoutRules(out))
	if err := marshalRules(&b, &c.Rules, c.Order, nil, ""); err != nil {
		return nil, err
	}
	for i := range c.Policies {
		p := &c.Policies[i]
		block := map[string]any{"name": p.Name}
		for key, list := range map[string][]string{"recipients": p.Recipients, "senders": p.Senders, "kinds": p.Kinds} {
			if len(list) > 0 {
				block[key] = list
			}
		}
		out, err := toml.Marshal(map[string]any{"policy": []map[string]any{block}})
		if err != nil {
			return nil, fmt.Errorf("marshal policy %q: %w", p.Name, err)
		}
		b.WriteString("\n")
		b.Write(out)
		if err := marshalRules(&b, &p.Rules, p.order, p.own, "policy."); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// marshalRules writes the rule tables of rules (those only names, when it
// is not nil), their table names under prefix.
func marshalRules(b *bytes.Buffer, rules *RulesConfig, order, only []string, prefix string) error {
	for _, t := range rules.tables(order) {
		if only != nil && !slices.Contains(only, t.name) {
			continue
		}
		out, err := toml.Marshal(map[string]any{"rules": map[string]any{t.key: t.cfg}})
		if err != nil {
			return fmt.Errorf("marshal %srules.%s: %w", prefix, t.key, err)
		}
		out = withoutRules(out)
		if prefix != "" {
			out = bytes.ReplaceAll(append([]byte("\n"), out...), []byte("\n[rules."), []byte("\n["+prefix+"rules."))[1:]
			out = bytes.ReplaceAll(append([]byte("\n"), out...), []byte("\n[[rules."), []byte("\n[["+prefix+"rules."))[1:]
		}
		b.Write(out)
	}
	return nil
}

// withoutRules drops the bare [rules] header lines the encoder writes: a
// table may be defined only once in a document.
func withoutRules(b []byte) []byte {
	return bytes.ReplaceAll(append([]byte("\n"), b...), []byte("\n[rules]\n"), []byte("\n"))[1:]
}
