package clamd

import (
	"errors"
	"log/slog"
	"sync"
)

// Health follows whether a clamd answers, from the connections the
// scans make: the first failure to connect after a success is logged
// once at WARN, the first success after failures once at INFO, and
// OnChange, when set, is told of each change. A process keeps one per
// clamd address, across reloads.
type Health struct {
	Log      *slog.Logger
	OnChange func(up bool)

	mu   sync.Mutex
	down bool
}

// observe records the outcome of a connection attempt to addr.
func (h *Health) observe(addr string, err error) {
	if h == nil {
		return
	}
	var de *dialError
	if err != nil && !errors.As(err, &de) {
		return
	}
	down := err != nil
	h.mu.Lock()
	changed := down != h.down
	h.down = down
	h.mu.Unlock()
	if !changed {
		return
	}
	if h.Log != nil {
		if down {
			h.Log.Warn("clamd not answering: the virus rule applies its on_error until it does", "address", addr, "error", err.Error())
		} else {
			h.Log.Info("clamd answers again", "address", addr)
		}
	}
	if h.OnChange != nil {
		h.OnChange(!down)
	}
}
