package policy

import (
	"bytes"
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// Marshal writes the configuration as TOML with every default filled in:
// the values in force. Rule tables come in evaluation order, each under the
// name the file used, so that parsing the output gives the same
// configuration.
func (c *Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# The configuration in force, every default filled in (from %s).\n", c.File)
	top := *c
	top.Rules = RulesConfig{}
	out, err := toml.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	b.Write(withoutRules(out))
	for _, t := range c.Rules.tables(c.Order) {
		out, err := toml.Marshal(map[string]any{"rules": map[string]any{t.key: t.cfg}})
		if err != nil {
			return nil, fmt.Errorf("marshal rules.%s: %w", t.key, err)
		}
		b.Write(withoutRules(out))
	}
	return b.Bytes(), nil
}

// withoutRules drops the bare [rules] header lines the encoder writes: a
// table may be defined only once in a document.
func withoutRules(b []byte) []byte {
	return bytes.ReplaceAll(append([]byte("\n"), b...), []byte("\n[rules]\n"), []byte("\n"))[1:]
}
