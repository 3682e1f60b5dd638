package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/history"
	"github.com/sekisho/sekisho/policy/metrics"
)

// historyKeeper holds the daemon's history writer across reloads: a
// reload that changes [history] gets a writer of its own, and the one it
// replaces writes what it has queued and goes.
type historyKeeper struct {
	cfg     policy.HistoryConfig
	w       *history.Writer // nil when [history] is off
	env     *policy.Env
	log     *slog.Logger
	metrics *metrics.Metrics

	prev *history.Writer // replaced by prepare, until commit or rollback
	next bool            // prepare made the writer in use

	mu       sync.Mutex
	rd       history.Store // the console's, for the writer in use
	prevRead history.Store
}

// reader returns the store the console reads, nil when the history is
// off. It has connections of its own: a long search does not hold up the
// writer.
func (h *historyKeeper) reader() history.Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rd
}

// openReader opens the console's store for cfg, or nil.
func (h *historyKeeper) openReader(cfg policy.HistoryConfig) history.Store {
	if cfg.Store == "" {
		return nil
	}
	s, err := history.Open(cfg.Store, false)
	if err != nil {
		h.log.Warn("console: cannot open the history", "error", err)
		return nil
	}
	return s
}

// swapReader makes rd the console's store and returns the one it was.
func (h *historyKeeper) swapReader(rd history.Store) history.Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.rd
	h.rd = rd
	return old
}

// start opens the history of cfg, if any, and sets it on env.
func (h *historyKeeper) start(cfg policy.HistoryConfig) error {
	w, err := h.open(cfg)
	if err != nil {
		return err
	}
	h.cfg, h.w = cfg, w
	h.swapReader(h.openReader(cfg))
	h.set()
	return nil
}

func (h *historyKeeper) open(cfg policy.HistoryConfig) (*history.Writer, error) {
	if cfg.Store == "" {
		return nil, nil
	}
	s, err := history.Open(cfg.Store, false)
	if err != nil {
		return nil, err
	}
	w := history.NewWriter(s, history.Options{Host: cfg.Host, Keep: cfg.KeepFor(), Logger: h.log, Metrics: h.metrics})
	h.log.Info("keeping the history of decisions", "store", s.Name(), "keep", cfg.Keep)
	return w, nil
}

// set makes the engines built next record to the writer in use.
func (h *historyKeeper) set() {
	h.env.History = nil // not a nil *history.Writer in the interface
	if h.w != nil {
		h.env.History = h.w
	}
}

// prepare sets on env the writer for a configuration about to be swapped
// in; commit or rollback ends it.
func (h *historyKeeper) prepare(cfg policy.HistoryConfig) error {
	h.prev, h.next = nil, false
	if cfg.Store == h.cfg.Store && cfg.Host == h.cfg.Host && cfg.Keep == h.cfg.Keep {
		return nil
	}
	w, err := h.open(cfg)
	if err != nil {
		return err
	}
	h.prev, h.next = h.w, true
	h.cfg, h.w = cfg, w
	h.prevRead = h.swapReader(h.openReader(cfg))
	h.set()
	return nil
}

// commit closes the writer prepare replaced, once it has written what it
// holds; a message still judged under the old configuration records
// nothing more.
func (h *historyKeeper) commit(timeout time.Duration) {
	if h.next && h.prev != nil {
		go h.closeWriter(h.prev, timeout)
	}
	if h.next && h.prevRead != nil {
		h.prevRead.Close() // waits for the searches under way
	}
	h.prev, h.prevRead, h.next = nil, nil, false
}

// rollback goes back to the writer in use before prepare.
func (h *historyKeeper) rollback(old policy.HistoryConfig) {
	if !h.next {
		return
	}
	if h.w != nil {
		go h.closeWriter(h.w, time.Second)
	}
	h.cfg, h.w = old, h.prev
	if rd := h.swapReader(h.prevRead); rd != nil {
		rd.Close()
	}
	h.prev, h.prevRead, h.next = nil, nil, false
	h.set()
}

func (h *historyKeeper) closeWriter(w *history.Writer, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		h.log.Warn("closing the history store", "error", err)
	}
}

// close writes what is queued until ctx ends (SIGTERM: within the
// shutdown timeout).
func (h *historyKeeper) close(ctx context.Context) {
	if rd := h.swapReader(nil); rd != nil {
		rd.Close()
	}
	if h.w == nil {
		return
	}
	if err := h.w.Close(ctx); err != nil {
		h.log.Warn("closing the history store", "error", err)
	}
	h.w = nil
}

// historyWarning is -check's word on the [history] store: a directory
// that is not there for the SQLite file, or a PostgreSQL that does not
// answer; "" when it is fine or off. The daemon would start either way
// and drop the records.
func historyWarning(cfg policy.HistoryConfig) string {
	if cfg.Store == "" {
		return ""
	}
	if !history.IsPostgres(cfg.Store) {
		dir := filepath.Dir(cfg.Store)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Sprintf("history.store: no directory %s: no decision would be kept", dir)
		}
		return ""
	}
	s, err := history.Open(cfg.Store, true)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = s.Search(ctx, history.Query{Limit: 1})
		cancel()
		s.Close()
	}
	if err != nil {
		return fmt.Sprintf("history.store: %v: no decision would be kept until it answers", err)
	}
	return ""
}
