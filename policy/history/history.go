// Package history keeps the decisions the engine takes, for the
// administrator who is asked "what happened to the mail from X?": one
// record per message outcome, and one per recipient refused at RCPT, in an
// embedded SQLite file or, for several MX hosts, in one PostgreSQL.
//
// Recording never delays mail: the engine hands records to a Writer, which
// queues them and writes them from a goroutine of its own; what it cannot
// write is dropped and counted. It knows nothing of rules or of milter: a
// Record is plain text that the engine has already redacted.
package history

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Record is one decision.
type Record struct {
	ID          int64     `json:"id,omitempty"` // given by the store
	Time        time.Time `json:"time"`
	Host        string    `json:"host"` // the MX host that decided
	QueueID     string    `json:"queue_id,omitempty"`
	Client      string    `json:"client,omitempty"` // IP address, "" for a local client
	Helo        string    `json:"helo,omitempty"`
	Sender      string    `json:"sender"` // envelope sender, "" for the null sender
	Rcpts       []string  `json:"rcpts,omitempty"`
	Subject     string    `json:"subject,omitempty"`     // decoded, when known
	Attachments []string  `json:"attachments,omitempty"` // file names, when the message was inspected
	Policy      string    `json:"policy"`
	Rule        string    `json:"rule,omitempty"`
	// Action is the outcome: accept, reject, tempfail, discard,
	// quarantine (held), tag or exempt.
	Action string `json:"action"`
	Stage  string `json:"stage"`
	DryRun bool   `json:"dry_run,omitempty"` // a rule's verdict was only recorded
	Reason string `json:"reason,omitempty"`
	Reply  string `json:"reply,omitempty"` // what the client was told, for a refusal
}

// Query selects records: those of the time range [Since, Until) in which
// every word is found in one of the sender, the recipients, the queue id,
// the subject, the rule, the action, the client or the host, newest first.
type Query struct {
	Words []string
	Since time.Time // zero: from the first
	Until time.Time // zero: up to now
	Limit int       // at most; 0 means 100
}

// ParseQuery splits a search box's text into words; quotes keep a phrase
// together ("invoice 2024"). Bytes that are not UTF-8 become U+FFFD, as
// they do in records, and NUL, which no record holds, is dropped.
func ParseQuery(q string) []string {
	q = cleanText(q)
	var words []string
	for i, part := range strings.Split(q, `"`) {
		if i%2 == 1 {
			if p := strings.TrimSpace(part); p != "" {
				words = append(words, p)
			}
			continue
		}
		words = append(words, strings.Fields(part)...)
	}
	return words
}

// Store is where records are kept.
type Store interface {
	// Add writes records in one transaction.
	Add(ctx context.Context, recs []Record) error
	// Search returns the records q selects.
	Search(ctx context.Context, q Query) ([]Record, error)
	// Get returns one record by its ID.
	Get(ctx context.Context, id int64) (Record, error)
	// Prune deletes the records older than before, and says how many.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Refusals counts, by rule and by period of length per since
	// since, the messages refused, tempfailed, discarded or held (dry
	// runs aside).
	Refusals(ctx context.Context, since time.Time, per time.Duration) ([]Count, error)
	// Name is the store as it may be logged: a path, or a URL without its
	// password.
	Name() string
	Close() error
}

// Count is how many refusals a rule made in the period that starts at
// Start.
type Count struct {
	Start time.Time
	Rule  string
	N     int64
}

// ErrNotFound is Get's error for an ID no record has.
var ErrNotFound = errors.New("no such record")

// IsPostgres reports whether a store setting names a PostgreSQL database.
func IsPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// Open returns the store a setting names: a postgres:// URL, or the path
// of an SQLite file. Nothing is connected to yet: a store that is down
// fails its calls, not Open. With readOnly, a missing SQLite file is an
// error rather than created.
func Open(store string, readOnly bool) (Store, error) {
	if IsPostgres(store) {
		return openPostgres(store)
	}
	return openSQLite(store, readOnly)
}
