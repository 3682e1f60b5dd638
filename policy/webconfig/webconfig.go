// Package webconfig serves the daemon's HTTP endpoints (/metrics and the
// console) under a web configuration file in the format of the Prometheus
// exporter toolkit (web-config.yml: tls_server_config, basic_auth_users
// with bcrypt hashes, http_server_config), the file Prometheus exporters
// and Prometheus itself read, through the toolkit itself. Without one, an
// endpoint is plain HTTP with no login. The file is read again as
// requests come (the toolkit caches it), so a new password or certificate
// needs no restart.
package webconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/exporter-toolkit/web"
)

// Validate checks the web configuration file at path, as the endpoint
// will read it at start; "" is no file, which is valid.
func Validate(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("web_config %s: %w", path, err)
	}
	return nil
}

// Serve serves srv on ln from a goroutine of its own, under the web
// configuration at path when it is set; what ends the serving other than
// srv's Shutdown is logged as what stopped.
func Serve(ln net.Listener, srv *http.Server, path string, log *slog.Logger, what string) {
	go func() {
		var err error
		if path == "" {
			err = srv.Serve(ln)
		} else {
			addrs, systemd := []string{ln.Addr().String()}, false
			err = web.Serve(ln, srv, &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &path}, log)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" stopped", "listen", ln.Addr().String(), "error", err)
		}
	}()
}

// User returns the name a request was let in under by basic auth, "" when
// it carries none (no web configuration, or one without users).
func User(r *http.Request) string {
	u, _, ok := r.BasicAuth()
	if !ok {
		return ""
	}
	return u
}
