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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/crypto/bcrypt"
)

// Loopback reports whether a listen address (HOST:PORT) binds to loopback
// only; a host name is judged by its name ("localhost" is).
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// HasUsers reports whether the web configuration at path asks for a login
// (basic_auth_users); without users the toolkit serves every request.
func HasUsers(path string) (bool, error) {
	users, err := readUsers(path)
	return len(users) > 0, err
}

// readUsers reads the basic_auth_users of the web configuration at path:
// each user's bcrypt hash.
func readUsers(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("web_config %s: %w", path, err)
	}
	var c struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("web_config %s: %w", path, err)
	}
	return c.Users, nil
}

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
	if path != "" {
		next := srv.Handler
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), configKey{}, path)))
		})
	}
	go func() {
		var err error
		if path == "" {
			err = srv.Serve(ln)
		} else {
			addrs, systemd := []string{ln.Addr().String()}, false
			err = web.Serve(ln, srv, &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &path}, log)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			// A listener left open would take connections no one
			// serves.
			ln.Close()
			log.Error(what+" stopped", "listen", ln.Addr().String(), "error", err)
		}
	}()
}

// configKey is the context key of the web configuration's path, which
// Serve gives each request for User.
type configKey struct{}

// User returns the name a request was let in under by basic auth: a user
// of the web configuration's basic_auth_users whose password the request
// carries, checked against the file as it is now. It is "" for any other
// request: no web configuration, one without users (where the toolkit
// checks nothing, so a name the client sends proves nothing), or
// credentials that do not match. It checks a bcrypt hash, so it is for
// the rare requests that need a name (the console's actions), not for
// every page.
func User(r *http.Request) string {
	path, _ := r.Context().Value(configKey{}).(string)
	name, password, ok := r.BasicAuth()
	if path == "" || !ok {
		return ""
	}
	users, err := readUsers(path)
	hash, found := users[name]
	if err != nil || !found || bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return ""
	}
	return name
}
