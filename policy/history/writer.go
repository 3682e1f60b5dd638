package history

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sekisho/sekisho/policy/metrics"
)

// Options tune a Writer; the zero value of each field takes its default.
type Options struct {
	Host    string        // the MX host's name in each record; os.Hostname when ""
	Keep    time.Duration // records older than this are deleted; 0 keeps them
	Queue   int           // records waiting to be written, at most (10000)
	Batch   int           // records written in one transaction, at most (500)
	Timeout time.Duration // for one write to the store (5s)
	Prune   time.Duration // between two deletions of old records (1h)
	Logger  *slog.Logger
	Metrics *metrics.Metrics // nil: nothing counted
	Now     func() time.Time
}

// Writer takes records and writes them to a Store from a goroutine of its
// own. Record never blocks: when the queue is full or the store does not
// answer, records are dropped, counted (sekisho_history_dropped_total) and
// the failure logged once, WARN, then INFO once the store answers again.
type Writer struct {
	store Store
	opts  Options
	in    chan Record
	done  chan struct{}

	mu       sync.Mutex
	closed   bool
	down     bool // the last write failed or records were dropped; logged
	dropping bool // the queue was full and has not drained to half since; logged
}

// NewWriter starts a Writer on store, which it owns and closes.
func NewWriter(store Store, opts Options) *Writer {
	if opts.Host == "" {
		opts.Host, _ = os.Hostname()
	}
	if opts.Queue <= 0 {
		opts.Queue = 10000
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Prune <= 0 {
		opts.Prune = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{store: store, opts: opts, in: make(chan Record, opts.Queue), done: make(chan struct{})}
	opts.Metrics.HistoryUp(store.Name(), true)
	go w.run()
	return w
}

// Store returns the store the Writer writes to.
func (w *Writer) Store() Store { return w.store }

// Record queues r, with the Writer's host, and its time if it has none.
// It never blocks: a record the queue has no room for is dropped.
func (w *Writer) Record(r Record) {
	if r.Host == "" {
		r.Host = w.opts.Host
	}
	if r.Time.IsZero() {
		r.Time = w.opts.Now()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	select {
	case w.in <- r:
		// The queue is said to have room again only once half of it
		// is free: a store that barely keeps up would otherwise log a
		// WARN for each record that finds the queue full.
		if w.dropping && len(w.in) <= cap(w.in)/2 {
			w.dropping = false
		}
	default:
		w.opts.Metrics.HistoryDropped(1)
		if !w.dropping {
			w.dropping = true
			w.opts.Logger.Warn("history queue full: decisions are dropped until the store catches up", "store", w.store.Name(), "queue", w.opts.Queue)
		}
	}
}

func (w *Writer) run() {
	defer close(w.done)
	prune := time.NewTicker(w.opts.Prune)
	defer prune.Stop()
	w.prune()
	batch := make([]Record, 0, w.opts.Batch)
	for {
		select {
		case r, ok := <-w.in:
			if !ok {
				return
			}
			batch = append(batch[:0], r)
		fill:
			for len(batch) < w.opts.Batch {
				select {
				case r, ok := <-w.in:
					if !ok {
						w.write(batch)
						return
					}
					batch = append(batch, r)
				default:
					break fill
				}
			}
			w.write(batch)
		case <-prune.C:
			w.prune()
		}
	}
}

// write writes one batch, or drops it when the store fails.
func (w *Writer) write(batch []Record) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	err := w.store.Add(ctx, batch)
	cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.opts.Metrics.HistoryDropped(len(batch))
		if !w.down {
			w.down = true
			w.opts.Metrics.HistoryUp(w.store.Name(), false)
			w.opts.Logger.Warn("history store not answering: decisions are dropped until it does; mail flows on", "store", w.store.Name(), "error", err)
		}
		return
	}
	if w.down {
		w.down = false
		w.opts.Metrics.HistoryUp(w.store.Name(), true)
		w.opts.Logger.Info("history store answers again", "store", w.store.Name())
	}
}

// prune deletes the records older than Keep.
func (w *Writer) prune() {
	if w.opts.Keep <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	n, err := w.store.Prune(ctx, w.opts.Now().Add(-w.opts.Keep))
	if err != nil {
		// The next write says whether the store is down.
		w.opts.Logger.Debug("history prune failed", "store", w.store.Name(), "error", err)
		return
	}
	if n > 0 {
		w.opts.Logger.Info("history pruned", "store", w.store.Name(), "deleted", n, "keep", w.opts.Keep.String())
	}
}

// Close writes what is queued until ctx ends, then closes the store.
// Records given after Close are dropped.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.opts.Logger.Warn("history: records still queued at the shutdown timeout were dropped", "store", w.store.Name(), "queued", len(w.in))
	}
	w.opts.Metrics.HistoryGone(w.store.Name())
	return w.store.Close()
}
