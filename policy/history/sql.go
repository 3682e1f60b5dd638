package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite", pure Go
)

// sqlStore is a Store on database/sql; SQLite and PostgreSQL differ only
// in their schema and placeholders.
type sqlStore struct {
	db       *sql.DB
	name     string
	postgres bool

	mu    sync.Mutex
	ready bool // the schema is made
}

// Rcpts and attachments are kept one per line, in one column each: they
// are searched with LIKE, never joined.
const columns = `at, host, queue_id, client, helo, sender, rcpts, subject, attachments, policy, rule, action, stage, dry_run, reason, reply`

var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT,
	at INTEGER NOT NULL, host TEXT NOT NULL, queue_id TEXT NOT NULL, client TEXT NOT NULL, helo TEXT NOT NULL,
	sender TEXT NOT NULL, rcpts TEXT NOT NULL, subject TEXT NOT NULL, attachments TEXT NOT NULL,
	policy TEXT NOT NULL, rule TEXT NOT NULL, action TEXT NOT NULL, stage TEXT NOT NULL, dry_run INTEGER NOT NULL,
	reason TEXT NOT NULL, reply TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS decisions_at ON decisions (at)`,
}

var postgresSchema = []string{
	`CREATE TABLE IF NOT EXISTS decisions (id BIGSERIAL PRIMARY KEY,
	at BIGINT NOT NULL, host TEXT NOT NULL, queue_id TEXT NOT NULL, client TEXT NOT NULL, helo TEXT NOT NULL,
	sender TEXT NOT NULL, rcpts TEXT NOT NULL, subject TEXT NOT NULL, attachments TEXT NOT NULL,
	policy TEXT NOT NULL, rule TEXT NOT NULL, action TEXT NOT NULL, stage TEXT NOT NULL, dry_run BOOLEAN NOT NULL,
	reason TEXT NOT NULL, reply TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS decisions_at ON decisions (at)`,
}

func openSQLite(path string, readOnly bool) (Store, error) {
	if path == "" {
		return nil, errors.New("history store: empty path")
	}
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("history store: %w", err)
		}
	}
	// WAL lets `sekisho history` and the console read while the daemon
	// writes; busy_timeout waits out the other's lock.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("history store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer: SQLite locks the file anyway
	return &sqlStore{db: db, name: path}, nil
}

func openPostgres(store string) (Store, error) {
	u, err := url.Parse(store)
	if err != nil {
		return nil, fmt.Errorf("history store: %w", err)
	}
	q := u.Query()
	if !q.Has("connect_timeout") {
		q.Set("connect_timeout", "5")
		u.RawQuery = q.Encode()
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("history store %s: %w", u.Redacted(), err)
	}
	db.SetMaxOpenConns(4)
	// Logged and shown as a metric label: no password, and no query,
	// where one may be passed too.
	shown := *u
	shown.RawQuery = ""
	return &sqlStore{db: db, name: shown.Redacted(), postgres: true}, nil
}

func (s *sqlStore) Name() string { return s.name }

func (s *sqlStore) Close() error { return s.db.Close() }

// q turns the ? placeholders of a statement into PostgreSQL's $n.
func (s *sqlStore) q(stmt string) string {
	if !s.postgres {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, r := range stmt {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// schema makes the table once the store answers.
func (s *sqlStore) schema(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	stmts := sqliteSchema
	if s.postgres {
		stmts = postgresSchema
	}
	for _, st := range stmts {
		if _, err := s.db.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("history store %s: create table: %w", s.name, err)
		}
	}
	s.ready = true
	return nil
}

func (s *sqlStore) Add(ctx context.Context, recs []Record) error {
	if err := s.schema(ctx); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history store %s: %w", s.name, err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, s.q(`INSERT INTO decisions (`+columns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`))
	if err != nil {
		return fmt.Errorf("history store %s: %w", s.name, err)
	}
	defer st.Close()
	for _, r := range recs {
		r = r.clean()
		var dry any = r.DryRun
		if !s.postgres {
			dry = boolInt(r.DryRun)
		}
		if _, err := st.ExecContext(ctx, r.Time.UnixMicro(), r.Host, r.QueueID, r.Client, r.Helo, r.Sender,
			strings.Join(r.Rcpts, "\n"), r.Subject, strings.Join(r.Attachments, "\n"),
			r.Policy, r.Rule, r.Action, r.Stage, dry, r.Reason, r.Reply); err != nil {
			return fmt.Errorf("history store %s: %w", s.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history store %s: %w", s.name, err)
	}
	return nil
}

// clean returns r with every text valid UTF-8 and without NUL: PostgreSQL
// refuses both, and a subject, an address or a HELO is what a sender
// wrote, whatever the bytes.
func (r Record) clean() Record {
	for _, p := range []*string{&r.Host, &r.QueueID, &r.Client, &r.Helo, &r.Sender, &r.Subject, &r.Policy, &r.Rule, &r.Action, &r.Stage, &r.Reason, &r.Reply} {
		*p = cleanText(*p)
	}
	r.Rcpts = cleanList(r.Rcpts)
	r.Attachments = cleanList(r.Attachments)
	return r
}

// cleanText makes s valid UTF-8 without NUL.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// cleanList cleans each element; a line break would split it in two.
func cleanList(l []string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strings.ReplaceAll(cleanText(s), "\n", " ")
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// likeEscape escapes LIKE's wildcards in a word searched for.
var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (s *sqlStore) Search(ctx context.Context, q Query) ([]Record, error) {
	if err := s.schema(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, q.Until.UnixMicro())
	}
	for _, w := range q.Words {
		lw := strings.ToLower(cleanText(w))
		if lw == "" {
			continue
		}
		like := "%" + likeEscape.Replace(lw) + "%"
		where = append(where, `(LOWER(sender) LIKE ? ESCAPE '\' OR LOWER(rcpts) LIKE ? ESCAPE '\' OR LOWER(subject) LIKE ? ESCAPE '\'`+
			` OR LOWER(queue_id) = ? OR rule = ? OR action = ? OR client = ? OR LOWER(host) = ?)`)
		args = append(args, like, like, like, lw, lw, lw, lw, lw)
	}
	stmt := `SELECT id, ` + columns + ` FROM decisions`
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	stmt += " ORDER BY at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(stmt), args...)
	if err != nil {
		return nil, fmt.Errorf("history store %s: %w", s.name, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history store %s: %w", s.name, err)
	}
	return out, nil
}

// Refusals groups the refusals since since by rule and by period, in the
// database: the time is kept in microseconds, and integer division of it
// by the period gives the period's number.
func (s *sqlStore) Refusals(ctx context.Context, since time.Time, per time.Duration) ([]Count, error) {
	if per < time.Microsecond {
		return nil, fmt.Errorf("history store %s: period %v", s.name, per)
	}
	if err := s.schema(ctx); err != nil {
		return nil, err
	}
	step := per.Microseconds()
	stmt := `SELECT at / ? AS period, rule, COUNT(*) FROM decisions WHERE at >= ? AND NOT dry_run
	AND action IN ('reject', 'tempfail', 'discard', 'quarantine') GROUP BY period, rule ORDER BY period, rule`
	rows, err := s.db.QueryContext(ctx, s.q(stmt), step, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("history store %s: %w", s.name, err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var period int64
		if err := rows.Scan(&period, &c.Rule, &c.N); err != nil {
			return nil, fmt.Errorf("history store %s: %w", s.name, err)
		}
		c.Start = time.UnixMicro(period * step)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history store %s: %w", s.name, err)
	}
	return out, nil
}

func (s *sqlStore) Get(ctx context.Context, id int64) (Record, error) {
	if err := s.schema(ctx); err != nil {
		return Record{}, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, `+columns+` FROM decisions WHERE id = ?`), id)
	if err != nil {
		return Record{}, fmt.Errorf("history store %s: %w", s.name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Record{}, fmt.Errorf("history store %s: %w", s.name, err)
		}
		return Record{}, ErrNotFound
	}
	return s.scan(rows)
}

func (s *sqlStore) scan(rows *sql.Rows) (Record, error) {
	var r Record
	var at int64
	var rcpts, atts string
	var dry any
	if err := rows.Scan(&r.ID, &at, &r.Host, &r.QueueID, &r.Client, &r.Helo, &r.Sender, &rcpts, &r.Subject, &atts,
		&r.Policy, &r.Rule, &r.Action, &r.Stage, &dry, &r.Reason, &r.Reply); err != nil {
		return Record{}, fmt.Errorf("history store %s: %w", s.name, err)
	}
	r.Time = time.UnixMicro(at)
	r.Rcpts = lines(rcpts)
	r.Attachments = lines(atts)
	switch d := dry.(type) {
	case bool:
		r.DryRun = d
	case int64:
		r.DryRun = d != 0
	}
	return r, nil
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (s *sqlStore) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := s.schema(ctx); err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM decisions WHERE at < ?`), before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("history store %s: %w", s.name, err)
	}
	return res.RowsAffected()
}
