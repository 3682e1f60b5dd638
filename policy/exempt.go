package policy

import (
	"net/netip"
)

// exemptions decides which mail no rule judges.
type exemptions struct {
	networks      []netip.Prefix
	authenticated bool
	senders       Patterns
	recipients    Patterns
}

// validate parses the table into c.parsed; keys in errors are relative to
// the table.
func (c *ExemptConf) validate() []*ConfigError {
	var errs []*ConfigError
	e := exemptions{authenticated: c.Authenticated}
	for _, n := range c.Networks {
		p, err := ParsePrefix(n)
		if err != nil {
			errs = append(errs, &ConfigError{Key: "networks", Msg: err.Error()})
			continue
		}
		e.networks = append(e.networks, p)
	}
	e.senders = compilePatterns("senders", c.Senders, &errs)
	e.recipients = compilePatterns("recipients", c.Recipients, &errs)
	c.parsed = e
	return errs
}

// client returns why the client is exempt, or "".
func (e *exemptions) client(c Client) string {
	if c.Addr.IsValid() {
		a := c.Addr.Unmap()
		for _, n := range e.networks {
			if n.Contains(a) {
				return "network " + n.String()
			}
		}
	}
	if e.authenticated && c.AuthUser != "" {
		return "authenticated as " + c.AuthUser
	}
	return ""
}

// message returns why the message is exempt as a whole, or "": an exempt
// client or sender, or (from end of headers on) recipients that are all
// exempt.
func (e *exemptions) message(stage Stage, m *Message) string {
	if why := e.client(m.Client); why != "" {
		return why
	}
	if stage < StageMail {
		return ""
	}
	if p, ok := e.senders.Match(m.Sender); ok {
		return "sender matches " + p.String()
	}
	if stage > StageRcpt && len(m.Rcpts) > 0 && len(e.recipients) > 0 {
		for _, r := range m.Rcpts {
			if _, ok := e.recipients.Match(r); !ok {
				return ""
			}
		}
		return "every recipient is exempt"
	}
	return ""
}

// recipient returns why one recipient is exempt from recipient-stage rules.
func (e *exemptions) recipient(rcpt string) string {
	if p, ok := e.recipients.Match(rcpt); ok {
		return "recipient matches " + p.String()
	}
	return ""
}
