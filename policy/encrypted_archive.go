package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/mime"
	"github.com/sekisho/sekisho/policy/pairing"
)

// EncryptedArchiveConfig is [rules.encrypted_archive]: attachments that are
// encrypted archives or encrypted documents (Office files and PDFs
// protected by a password), whose content no rule and no scanner can
// see. In
// mode "judge" the rule's action applies at once. In mode "pair" (PPAP:
// the archive in one mail, its password in the next) the archive mail is
// tempfailed while Sekisho reads the sender's next mails to the same
// recipient for its password; when the sending MTA retries, the archive
// is decrypted and its content judged by the other rules and clamd. The
// rule's action applies to an archive no password opened within
// pair_timeout, and at once to a document Sekisho cannot decrypt (legacy
// Office RC4, a PDF encrypted for a certificate): no password would open
// it.
type EncryptedArchiveConfig struct {
	RuleCommon
	Mode        string      `toml:"mode"`         // "judge" or "pair"
	PairTimeout Duration    `toml:"pair_timeout"` // pair: how long an archive waits for its password
	PairReply   Reply       `toml:"pair_reply"`   // pair: the 4xx reply while it waits
	Patterns    []string    `toml:"patterns"`     // pair: regular expressions whose first group is a password
	MaxPairs    int         `toml:"max_pairs"`    // pair: sender/recipient pairs kept in memory
	Store       StoreConfig `toml:"store"`        // pair: "memory", or a Redis store as rate_limit's
	Timeout     Duration    `toml:"timeout"`      // pair: per Redis call

	extractor *pairing.Extractor
}

func (c *EncryptedArchiveConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.7.1",
		Text: "Encrypted archives and documents are not accepted: their content cannot be checked. Please share the file another way"})
	c.Mode = "judge"
	c.PairTimeout = Duration(time.Hour)
	c.PairReply = Reply{Code: 451, Enhanced: "4.7.0",
		Text: "Encrypted archive or document: it will be accepted once its password has been sent in a separate mail"}
	c.Patterns = slices.Clone(pairing.DefaultPatterns)
	c.MaxPairs = 100000
	c.Store = StoreConfig{text: "memory"}
	c.Timeout = Duration(time.Second)
}

// derive: tempfail without a reply of its own gets the 4xx counterpart of
// the default reply.
func (c *EncryptedArchiveConfig) derive(set func(string) bool) {
	c.Store.derive(set("store"))
	if c.Action == Tempfail && !set("reply") {
		c.Reply = temporary(c.Reply)
	}
}

func (c *EncryptedArchiveConfig) validate() []*ConfigError {
	var errs []*ConfigError
	if c.Mode != "judge" && c.Mode != "pair" {
		errs = append(errs, &ConfigError{Key: "mode", Msg: fmt.Sprintf("must be judge or pair, not %q", c.Mode)})
	}
	if c.PairTimeout <= 0 {
		errs = append(errs, &ConfigError{Key: "pair_timeout", Msg: "must be above zero"})
	}
	if c.PairReply.Code/100 != 4 {
		errs = append(errs, &ConfigError{Key: "pair_reply", Msg: fmt.Sprintf("must be a 4xx reply: the sending MTA must try again, not %d", c.PairReply.Code)})
	}
	if c.MaxPairs < 1 {
		errs = append(errs, &ConfigError{Key: "max_pairs", Msg: fmt.Sprintf("must be at least 1, not %d", c.MaxPairs)})
	}
	x, err := pairing.NewExtractor(c.Patterns)
	if err != nil {
		errs = append(errs, &ConfigError{Key: "patterns", Msg: err.Error()})
	} else if c.Mode == "pair" && len(c.Patterns) == 0 {
		errs = append(errs, &ConfigError{Key: "patterns", Msg: "mode pair needs at least one pattern"})
	}
	c.extractor = x
	if c.Timeout <= 0 {
		errs = append(errs, &ConfigError{Key: "timeout", Msg: "must be above zero"})
	}
	return append(errs, c.Store.validate()...)
}

// pairsInRedis reports whether the rule keeps its pairs in Redis.
func (c *EncryptedArchiveConfig) pairsInRedis() bool {
	return c.Enabled && c.Mode == "pair" && !c.Store.memory()
}

// needs: the rule reads the inspection; its pairing, redaction and
// commit serve pair mode (in mode judge they do nothing); pairs kept in
// Redis need the network.
func (c *EncryptedArchiveConfig) needs() Needs {
	return Needs{Stages: []Stage{StageEOB}, Vars: []string{"filename"}, Inspection: true,
		Commit: true, Redaction: true, Pairing: true, Network: c.pairsInRedis(), Derive: true}
}

func (c *EncryptedArchiveConfig) build(env *Env) (Rule, error) {
	r := &encryptedArchive{pair: c.Mode == "pair", timeout: c.PairTimeout.D(), pairReply: c.PairReply,
		extractor: c.extractor, now: env.now, log: env.logger()}
	if !r.pair {
		return r, nil
	}
	if c.Store.memory() {
		r.store = env.pairStore(c.MaxPairs)
		return r, nil
	}
	var err error
	r.store, err = env.redisPairStore(c.Store.url, c.Timeout.D())
	return r, err
}

// pairText is how much decoded body text a pairing rule reads for
// passwords.
const pairText = 16 << 10

// encryptedArchive finds the encrypted archives no password opened and,
// in pair mode, pairs them with the passwords sent after them.
type encryptedArchive struct {
	pair      bool
	timeout   time.Duration
	pairReply Reply
	extractor *pairing.Extractor
	store     pairing.Store
	now       func() time.Time
	log       *slog.Logger
}

func (r *encryptedArchive) Name() string { return "encrypted_archive" }

// redact hides passwords in the reasons of the policy's verdicts, in pair
// mode: a password mail in plain ASCII is tagged by ascii_only with its
// text quoted.
func (r *encryptedArchive) redact(reason string) string {
	if !r.pair {
		return reason
	}
	return r.extractor.Redact(reason)
}

// lockedArchive is an encrypted archive attachment no password opened.
type lockedArchive struct {
	name string // as log lines name the attachment
	file string // its file name, for {filename}
	id   string // the same for the same file sent again
	lock lock
}

// vars are the placeholders of a reply about l: {filename}, and
// {reason} (the file and what it is).
func (l lockedArchive) vars() map[string]string {
	f := replyName(l.file)
	return map[string]string{"filename": f, "reason": f + " is " + l.what()}
}

// what names what is locked in reasons: "an encrypted archive", "an
// encrypted document".
func (l lockedArchive) what() string {
	if l.lock.document {
		return "an encrypted document"
	}
	return "an encrypted archive"
}

// archiveID names an archive attachment so that the MTA's retry of the
// same mail, or the same file sent again, finds it waiting: its name, size
// and format, hashed.
func archiveID(a mime.Attachment) string {
	h := sha256.Sum256([]byte(a.Filename + "\x00" + strconv.FormatInt(a.Size, 10) + "\x00" + a.Archive.Format))
	return hex.EncodeToString(h[:12])
}

// scanArchives returns the attachments that hold an encrypted archive, or
// an encrypted entry, that no password opened, and whether any entry was
// decrypted.
func scanArchives(res *mime.Result) (locked []lockedArchive, decrypted []string) {
	for _, a := range res.Attachments {
		if a.Archive == nil {
			continue
		}
		l := archiveLock(a.Archive)
		switch {
		case l.locked:
			locked = append(locked, lockedArchive{name: attachmentName(a), file: a.Filename, id: archiveID(a), lock: l})
		case l.decrypted:
			decrypted = append(decrypted, archiveID(a))
		}
	}
	return locked, decrypted
}

// lock is what archiveLock finds in an archive and those nested in it.
type lock struct {
	locked    bool // something stays encrypted
	decrypted bool // an entry was decrypted
	document  bool // what stays encrypted is a document (an Office file, a PDF)
	sealed    bool // what stays encrypted is encrypted in a way no password opens here
}

// documentFormats are the formats of encrypted documents (see mime's
// compound files and PDFs).
var documentFormats = []string{mime.FormatOOXMLEncrypt, mime.FormatDocEncrypt, mime.FormatXLSEncrypt,
	mime.FormatPPTEncrypt, mime.FormatPDFEncrypt}

// archiveLocks reports whether an archive or one nested in it stays
// encrypted, and whether any of its entries was decrypted.
func archiveLocks(ar *mime.Archive) (locked, decrypted bool) {
	l := archiveLock(ar)
	return l.locked, l.decrypted
}

// archiveLock tells what stays encrypted in an archive and those nested
// in it.
func archiveLock(ar *mime.Archive) lock {
	doc := slices.Contains(documentFormats, ar.Format)
	if ar.Encrypted && (len(ar.Entries) == 0 || ar.Skipped != "") {
		// The entry list itself is encrypted, or its reading stopped at
		// an encrypted part.
		return lock{locked: true, document: doc, sealed: ar.Undecryptable}
	}
	var l lock
	for _, e := range ar.Entries {
		if e.Encrypted && !e.Decrypted {
			l.locked, l.document = true, l.document || doc
		}
		l.decrypted = l.decrypted || e.Decrypted
		if e.Archive != nil {
			n := archiveLock(e.Archive)
			l.locked, l.decrypted = l.locked || n.locked, l.decrypted || n.decrypted
			l.document, l.sealed = l.document || n.document, l.sealed || n.sealed
		}
	}
	return l
}

func (r *encryptedArchive) Check(ctx context.Context, _ Stage, m *Message) (Hit, error) {
	if m.Inspection == nil {
		return Hit{}, fmt.Errorf("encrypted_archive: the message was not inspected")
	}
	locked, decrypted := scanArchives(m.Inspection)
	if !r.pair {
		if len(locked) == 0 {
			return Hit{}, nil
		}
		return Hit{Matched: true, Reason: locked[0].name + " is " + locked[0].what(), Vars: locked[0].vars()}, nil
	}
	now := r.now()
	sender := strings.ToLower(m.Sender)
	if len(locked) == 0 {
		if err := r.collect(ctx, m, sender, now); err != nil {
			return Hit{}, err
		}
		if len(decrypted) == 0 {
			return Hit{}, nil
		}
		// The other rules and clamd judge the content; Commit forgets
		// the archive once the mail is accepted.
		return Hit{Matched: true, Action: Tag,
			Reason: "encrypted attachment decrypted with the password sent after it, and checked"}, nil
	}
	name, what := locked[0].name, locked[0].what()
	if sender == "" || len(m.Rcpts) == 0 {
		// A bounce has no one to send a password.
		return Hit{Matched: true, Reason: name + " is " + what + ", from the null sender", Vars: locked[0].vars()}, nil
	}
	for _, l := range locked {
		if l.lock.sealed {
			// No password would open it here: waiting for one only
			// delays the same verdict.
			return Hit{Matched: true, Reason: l.name + " is " + l.what() + " that Sekisho cannot decrypt with a password", Vars: l.vars()}, nil
		}
	}
	first := now
	for _, rcpt := range m.Rcpts {
		rcpt = strings.ToLower(rcpt)
		for _, l := range locked {
			// Kept a little past the timeout, so that a retry just after
			// it still finds the archive timed out rather than new.
			t, err := r.store.Wait(ctx, sender, rcpt, l.id, now, r.timeout+r.timeout/2)
			if err != nil {
				return Hit{}, fmt.Errorf("encrypted_archive: store: %w", err)
			}
			if t.Before(first) {
				first = t
			}
		}
	}
	// Some senders write the password in the archive mail itself: it is
	// tried when the MTA retries.
	if err := r.collect(ctx, m, sender, now); err != nil {
		return Hit{}, err
	}
	if waited := now.Sub(first); waited < r.timeout {
		return Hit{Matched: true, Action: Tempfail, Reply: r.pairReply, Vars: locked[0].vars(),
			Reason: fmt.Sprintf("%s is %s: waiting for its password, %s of %s waited",
				name, what, waited.Round(time.Second), r.timeout)}, nil
	}
	for _, rcpt := range m.Rcpts {
		for _, l := range locked {
			if err := r.store.Done(ctx, sender, strings.ToLower(rcpt), l.id); err != nil {
				return Hit{}, fmt.Errorf("encrypted_archive: store: %w", err)
			}
		}
	}
	return Hit{Matched: true, Reason: fmt.Sprintf("%s is %s: no password that opens it came within pair_timeout %s", name, what, r.timeout),
		Vars: locked[0].vars()}, nil
}

// Commit forgets the archives of an accepted mail that a password opened,
// and their candidates once no archive of the pair waits. Those of a
// refused mail go when pair_timeout has passed.
func (r *encryptedArchive) Commit(ctx context.Context, m *Message) error {
	if !r.pair || m.Inspection == nil || m.Sender == "" {
		return nil
	}
	_, decrypted := scanArchives(m.Inspection)
	for _, rcpt := range m.Rcpts {
		for _, id := range decrypted {
			if err := r.store.Done(ctx, strings.ToLower(m.Sender), strings.ToLower(rcpt), id); err != nil {
				return fmt.Errorf("encrypted_archive: store: %w", err)
			}
		}
	}
	return nil
}

// collect reads a message for password candidates when its sender has an
// archive waiting for one of its recipients, and keeps them for that
// pair. Candidates are never logged.
func (r *encryptedArchive) collect(ctx context.Context, m *Message, sender string, now time.Time) error {
	if sender == "" {
		return nil
	}
	var cands []string
	read := false
	for _, rcpt := range m.Rcpts {
		rcpt = strings.ToLower(rcpt)
		ok, err := r.store.Waiting(ctx, sender, rcpt, now)
		if err != nil {
			return fmt.Errorf("encrypted_archive: store: %w", err)
		}
		if !ok {
			continue
		}
		if !read {
			read = true
			cands = r.extractor.Candidates(m.Inspection.Subject + "\n" + m.Inspection.Text.Text)
		}
		if len(cands) == 0 {
			return nil
		}
		if err := r.store.AddCandidates(ctx, sender, rcpt, cands, now, r.timeout); err != nil {
			return fmt.Errorf("encrypted_archive: store: %w", err)
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "password candidates kept",
			slog.String("queue_id", m.QueueID), slog.String("sender", m.Sender), slog.String("rcpt", rcpt),
			slog.Int("candidates", len(cands)))
	}
	return nil
}

// pairState returns the candidates kept for the pairs of a message, for
// the inspection to try on its encrypted archives, and how much body text
// to keep: only a mail to a pair with an archive waiting is read for
// passwords. A store that fails gives none: the archive then waits, as if
// none had come.
func (r *encryptedArchive) pairState(ctx context.Context, m *Message) ([][]byte, int) {
	if !r.pair || m.Sender == "" {
		return nil, 0
	}
	var out [][]byte
	keep := 0
	seen := map[string]bool{}
	for _, rcpt := range m.Rcpts {
		cands, waiting, err := r.store.Candidates(ctx, strings.ToLower(m.Sender), strings.ToLower(rcpt), r.now())
		if err != nil {
			r.log.LogAttrs(ctx, slog.LevelWarn, "password candidates unavailable",
				slog.String("sender", m.Sender), slog.String("rcpt", rcpt), slog.String("error", err.Error()))
			continue
		}
		if waiting {
			keep = pairText
		}
		for _, c := range cands {
			if !seen[c] {
				seen[c] = true
				out = append(out, []byte(c))
			}
		}
	}
	return out, keep
}
