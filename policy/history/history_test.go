package history

import (
	"context"
	"errors"
	"fmt"
	"github.com/sekisho/sekisho/policy/internal/testkit"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// sample is three decisions of one morning, on host mx1 unless set.
func sample() []Record {
	return []Record{
		{Time: t0, Host: "mx1", QueueID: "4ABC1", Client: "192.0.2.1", Helo: "mail.example.org", Sender: "tanaka@example.org",
			Rcpts: []string{"suzuki@example.co.jp", "sato@example.co.jp"}, Subject: "御見積書の件 (invoice 2026)", Attachments: []string{"mitsumori.zip", "見積.pdf"},
			Policy: "default", Rule: "encrypted_archive", Action: "reject", Stage: "eob", Reason: "attachment \"mitsumori.zip\" is an encrypted archive", Reply: "550 5.7.1 Encrypted archives are not accepted"},
		{Time: t0.Add(time.Minute), Host: "mx1", QueueID: "4ABC2", Client: "198.51.100.7", Sender: "",
			Rcpts: []string{"info@example.co.jp"}, Subject: "100% off_sale", Policy: "default", Action: "accept", Stage: "eob"},
		{Time: t0.Add(2 * time.Minute), Host: "mx1", Client: "203.0.113.5", Sender: "spam@bad.example",
			Rcpts: []string{"x@example.co.jp"}, Policy: "default", Rule: "recipient_limit", Action: "tempfail", Stage: "rcpt", DryRun: true, Reply: "452 4.5.3 Too many recipients"},
	}
}

func ids(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.QueueID+"/"+r.Action)
	}
	return out
}

// testStore runs what every store must do on an empty s.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.Add(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	all, err := s.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); !slices.Equal(got, []string{"/tempfail", "4ABC2/accept", "4ABC1/reject"}) {
		t.Fatalf("all, newest first: %v", got)
	}
	// Every field comes back as it went in.
	want := sample()[0]
	got, err := s.Get(ctx, all[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	want.ID = got.ID
	if !got.Time.Equal(want.Time) || !slices.Equal(got.Rcpts, want.Rcpts) || !slices.Equal(got.Attachments, want.Attachments) {
		t.Errorf("Get = %+v", got)
	}
	if g, w := fmtRec(got), fmtRec(want); g != w {
		t.Errorf("Get:\n got %s\nwant %s", g, w)
	}
	if dry, _ := s.Get(ctx, all[0].ID); !dry.DryRun {
		t.Errorf("dry_run lost: %+v", dry)
	}
	if _, err := s.Get(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(999999) = %v, want ErrNotFound", err)
	}
	for q, want := range map[string][]string{
		"suzuki@example.co.jp":      {"4ABC1/reject"}, // a recipient
		"TANAKA@example.org":        {"4ABC1/reject"}, // the sender, any case
		"example.co.jp":             {"/tempfail", "4ABC2/accept", "4ABC1/reject"},
		"4abc2":                     {"4ABC2/accept"}, // the queue id
		"見積書":                       {"4ABC1/reject"}, // a word of the subject
		`"invoice 2026"`:            {"4ABC1/reject"}, // a phrase
		"encrypted_archive":         {"4ABC1/reject"}, // the rule
		"tempfail":                  {"/tempfail"},    // the outcome
		"accept info@example.co.jp": {"4ABC2/accept"}, // every word
		"reject info@example.co.jp": nil,
		"100%":                      {"4ABC2/accept"}, // LIKE's wildcards are literal
		"f_s":                       {"4ABC2/accept"},
		"o%f":                       nil,
		"203.0.113.5":               {"/tempfail"}, // the client
		"mx1":                       {"/tempfail", "4ABC2/accept", "4ABC1/reject"},
	} {
		recs, err := s.Search(ctx, Query{Words: ParseQuery(q)})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(recs); !slices.Equal(got, want) {
			t.Errorf("search %q = %v, want %v", q, got, want)
		}
	}
	// A time range and a limit.
	recs, _ := s.Search(ctx, Query{Since: t0.Add(30 * time.Second), Until: t0.Add(2 * time.Minute)})
	if got := ids(recs); !slices.Equal(got, []string{"4ABC2/accept"}) {
		t.Errorf("time range: %v", got)
	}
	recs, _ = s.Search(ctx, Query{Limit: 1})
	if len(recs) != 1 {
		t.Errorf("limit 1: %v", ids(recs))
	}

	// Prune deletes what is older than its time.
	n, err := s.Prune(ctx, t0.Add(90*time.Second))
	if err != nil || n != 2 {
		t.Errorf("Prune = %d, %v; want 2 deleted", n, err)
	}
	recs, _ = s.Search(ctx, Query{})
	if got := ids(recs); !slices.Equal(got, []string{"/tempfail"}) {
		t.Errorf("after prune: %v", got)
	}
	// What a sender wrote may be any bytes: kept as valid UTF-8, without
	// NUL, and without failing the batch.
	odd := Record{Time: t0, QueueID: "ODD", Sender: "a\x00b@example.org", Subject: "\xff\xfe件名\x00", Rcpts: []string{"x\ny@example.co.jp"}, Action: "accept"}
	if err := s.Add(ctx, []Record{odd}); err != nil {
		t.Fatalf("odd bytes: %v", err)
	}
	recs, err = s.Search(ctx, Query{Words: []string{"odd"}})
	if err != nil || len(recs) != 1 || recs[0].Subject != "\uFFFD件名" || recs[0].Sender != "ab@example.org" || !slices.Equal(recs[0].Rcpts, []string{"x y@example.co.jp"}) {
		t.Errorf("odd bytes came back as %+v, %v", recs, err)
	}
	// Refusals by rule and hour: the pruned 09:00 refusal, the
	// acceptance and the dry run are not counted; two refusals and a
	// hold an hour later are.
	more := []Record{
		{Time: t0.Add(time.Hour + time.Minute), Host: "mx2", Rule: "encrypted_archive", Action: "reject", Stage: "eob"},
		{Time: t0.Add(time.Hour + 2*time.Minute), Host: "mx2", Rule: "encrypted_archive", Action: "reject", Stage: "eob"},
		{Time: t0.Add(time.Hour + 3*time.Minute), Host: "mx2", Rule: "ascii_only", Action: "quarantine", Stage: "eob"},
	}
	if err := s.Add(ctx, more); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Refusals(ctx, t0.Add(-time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var per []string
	for _, c := range counts {
		per = append(per, fmt.Sprintf("%s %s %d", c.Start.UTC().Format("15:04"), c.Rule, c.N))
	}
	if want := []string{"10:00 ascii_only 1", "10:00 encrypted_archive 2"}; !slices.Equal(per, want) {
		t.Errorf("Refusals = %q, want %q", per, want)
	}
	if counts, _ := s.Refusals(ctx, t0.Add(time.Hour+150*time.Second), time.Hour); len(counts) != 1 || counts[0].Rule != "ascii_only" {
		t.Errorf("Refusals since 10:02:30 = %v", counts)
	}
}

func fmtRec(r Record) string {
	return strings.Join([]string{r.Host, r.QueueID, r.Client, r.Helo, r.Sender, r.Subject, r.Policy, r.Rule, r.Action, r.Stage, r.Reason, r.Reply}, "|")
}

func TestSQLiteStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testStore(t, s)
}

// TestSQLiteSurvivesReopen: what one process wrote, another reads (the
// daemon restarted, or sekisho history); a missing file is not created
// for reading.
func TestSQLiteSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	if _, err := Open(path, true); err == nil {
		t.Fatal("read-only Open of a missing file worked")
	}
	w := NewWriter(must(Open(path, false)), Options{Host: "mx1", Logger: slog.New(slog.DiscardHandler)})
	w.Record(sample()[0])
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := must(Open(path, true))
	defer s.Close()
	recs, err := s.Search(context.Background(), Query{})
	if err != nil || len(recs) != 1 || recs[0].QueueID != "4ABC1" {
		t.Fatalf("after reopen: %v %v", ids(recs), err)
	}
}

func must(s Store, err error) Store {
	if err != nil {
		panic(err)
	}
	return s
}

func TestParseQuery(t *testing.T) {
	for in, want := range map[string][]string{
		"":                       nil,
		"  a  b ":                {"a", "b"},
		`"見積 書" x@y.jp`:          {"見積 書", "x@y.jp"},
		`a "" b "unterminated c`: {"a", "b", "unterminated c"},
	} {
		if got := ParseQuery(in); !slices.Equal(got, want) {
			t.Errorf("ParseQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// downStore fails every call until up is set, and counts what it took.
type downStore struct {
	mu    sync.Mutex
	up    bool
	added int
	block chan struct{} // when set, Add waits on it
}

func (d *downStore) Add(ctx context.Context, recs []Record) error {
	if d.block != nil {
		select {
		case <-d.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.up {
		return errors.New("connection refused")
	}
	d.added += len(recs)
	return nil
}
func (d *downStore) Search(context.Context, Query) ([]Record, error) { return nil, nil }
func (d *downStore) Get(context.Context, int64) (Record, error)      { return Record{}, ErrNotFound }
func (d *downStore) Prune(context.Context, time.Time) (int64, error) { return 0, nil }
func (d *downStore) Refusals(context.Context, time.Time, time.Duration) ([]Count, error) {
	return nil, nil
}
func (d *downStore) Name() string  { return "down" }
func (d *downStore) Close() error  { return nil }
func (d *downStore) setUp(up bool) { d.mu.Lock(); d.up = up; d.mu.Unlock() }
func (d *downStore) count() int    { d.mu.Lock(); defer d.mu.Unlock(); return d.added }

// metricValue returns the value of a metric of m (its first series).
func metricValue(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.Metric) == 0 {
			continue
		}
		if c := mf.Metric[0].Counter; c != nil {
			return c.GetValue()
		}
		return mf.Metric[0].Gauge.GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestWriterStoreDown: while the store fails, Record returns at once,
// records are dropped and counted, the failure is logged once as WARN and
// its end once as INFO.
func TestWriterStoreDown(t *testing.T) {
	var log testkit.Buffer
	m := metrics.New("test")
	st := &downStore{}
	w := NewWriter(st, Options{Host: "mx1", Logger: slog.New(slog.NewTextHandler(&log, nil)), Metrics: m, Batch: 10})
	start := time.Now()
	for range 1000 {
		w.Record(Record{Action: "accept"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 records took %v with the store down", d)
	}
	waitFor(t, func() bool { return metricValue(t, m, "sekisho_history_dropped_total") == 1000 })
	if up := metricValue(t, m, "sekisho_history_up"); up != 0 {
		t.Errorf("sekisho_history_up = %v while down", up)
	}
	st.setUp(true)
	w.Record(Record{Action: "accept"})
	waitFor(t, func() bool { return st.count() == 1 })
	if up := metricValue(t, m, "sekisho_history_up"); up != 1 {
		t.Errorf("sekisho_history_up = %v once up", up)
	}
	w.Close(context.Background())
	out := log.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "history store not answering") {
		t.Errorf("want one WARN:\n%s", out)
	}
	if !strings.Contains(out, "level=INFO msg=\"history store answers again\"") {
		t.Errorf("want the INFO of recovery:\n%s", out)
	}
}

// TestWriterQueueFull: a store that hangs fills the queue; Record still
// returns at once and counts what it drops; Close gives up at its
// deadline.
func TestWriterQueueFull(t *testing.T) {
	var log testkit.Buffer
	m := metrics.New("test")
	st := &downStore{up: true, block: make(chan struct{})}
	w := NewWriter(st, Options{Logger: slog.New(slog.NewTextHandler(&log, nil)), Metrics: m, Queue: 10, Batch: 1, Timeout: time.Hour})
	start := time.Now()
	for range 100 {
		w.Record(Record{Action: "reject"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 records took %v with the store hanging", d)
	}
	// One taken by the writer, ten queued at most: the rest dropped.
	if n := metricValue(t, m, "sekisho_history_dropped_total"); n < 89 {
		t.Errorf("dropped %v, want at least 89", n)
	}
	if !strings.Contains(log.String(), "history queue full") || strings.Count(log.String(), "history queue full") != 1 {
		t.Errorf("want one queue-full WARN:\n%s", log.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	w.Close(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v past its deadline", d)
	}
	close(st.block)
}

// TestWriterHostAndPrune: the writer names its host and deletes what is
// older than keep.
func TestWriterHostAndPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := must(Open(path, false))
	old := sample()[0]
	old.Time = t0.Add(-400 * 24 * time.Hour)
	if err := s.Add(context.Background(), []Record{old}); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(s, Options{Host: "mx9", Keep: 366 * 24 * time.Hour, Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)})
	w.Record(Record{Action: "accept", Sender: "a@example.org"})
	w.Close(context.Background())
	s = must(Open(path, true))
	defer s.Close()
	recs, _ := s.Search(context.Background(), Query{})
	if len(recs) != 1 || recs[0].Host != "mx9" || !recs[0].Time.Equal(t0) {
		t.Errorf("records %+v", recs)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}
