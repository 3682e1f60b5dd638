package metrics

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sekisho/sekisho/policy/webconfig"
	"golang.org/x/net/netutil"
)

// Limits of the /metrics endpoint. A scrape is one small GET: a request
// header larger than maxHeaderBytes is refused with 431, and at most
// maxConns connections are served at once (the others wait in the
// kernel's backlog), so that clients sending large headers or holding
// connections open cannot grow the daemon's memory (net/http's own limit
// is 1 MiB of header per connection, with no cap on connections).
const (
	maxHeaderBytes    = 8 << 10
	maxConns          = 16
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = time.Minute
)

// Serve listens on addr (HOST:PORT) now, so that an address that cannot be
// had is an error at startup, and serves /metrics in the background until
// stop is called. On a nil *Metrics it listens on nothing. webConfig, when
// set, is the web configuration file (TLS, basic auth; see package
// webconfig) it is served under; an address other than loopback without
// one is served with a warning (see ExposedWarning).
func (m *Metrics) Serve(addr, webConfig string, log *slog.Logger) (stop func(context.Context) error, err error) {
	if m == nil {
		return func(context.Context) error { return nil }, nil
	}
	if log == nil {
		log = slog.Default()
	}
	if err := webconfig.Validate(webConfig); err != nil {
		return nil, err
	}
	if w := ExposedWarning(addr, webConfig); w != "" {
		log.Warn(w, "metrics_listen", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return m.serve(ln, webConfig, log), nil
}

// serve serves /metrics on ln, under the limits above.
func (m *Metrics) serve(ln net.Listener, webConfig string, log *slog.Logger) (stop func(context.Context) error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler)
	srv := &http.Server{
		Handler:        mux,
		MaxHeaderBytes: maxHeaderBytes,
		// A scraper that stalls must not hold a connection for ever.
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	webconfig.Serve(netutil.LimitListener(ln, maxConns), srv, webConfig, log, "metrics endpoint")
	return srv.Shutdown
}

// ExposedWarning returns a warning when addr ([metrics] listen) is not a
// loopback address and no web configuration protects it, "" otherwise.
// Without one the endpoint has neither TLS nor authentication: on another address, anyone who can reach it reads the
// counts of mail by outcome and rule, and can keep its few connections
// busy. A host name is judged by its name only ("localhost" is loopback).
func ExposedWarning(addr, webConfig string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil || webConfig != "" || webconfig.Loopback(addr) {
		return ""
	}
	return "metrics endpoint listens beyond loopback, without TLS or authentication: set [metrics] web_config, restrict who can reach it with a firewall, or listen on 127.0.0.1 behind a proxy"
}
