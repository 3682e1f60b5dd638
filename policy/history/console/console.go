// Package console serves the history of decisions as web pages: the
// latest ones, a search, and each decision in full. Pages are rendered on
// the server with html/template, which escapes everything a record holds
// (subjects, addresses and reasons come from senders); the pages run no
// script. Held mail is listed with the decision that held it, and
// released or deleted with a confirmation, each action in the audit log
// (held.go).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/history"
	"github.com/sekisho/sekisho/policy/webconfig"
)

//go:embed page.html
var files embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"join": strings.Join,
	"t":    tr,
}).ParseFS(files, "page.html"))

// Handler serves the console; store returns the history to read, nil
// when there is none; held says how to reach the hold queue (see held.go).
func Handler(store func() history.Store, log *slog.Logger, held Held) http.Handler {
	h := &handler{store: store, log: log, held: held}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.list)
	mux.HandleFunc("GET /decision/{id}", h.decision)
	mux.HandleFunc("GET /chart", h.chart)
	mux.HandleFunc("GET /held", h.heldList)
	mux.HandleFunc("GET /held/{id}/{action}", h.heldConfirm)
	mux.HandleFunc("POST /held/{id}/{action}", h.heldDo)
	return secure(mux)
}

type handler struct {
	store func() history.Store
	log   *slog.Logger
	held  Held
}

// view is what page.html renders: a list, one decision, or held mail.
type view struct {
	Lang     string // en or ja: see i18n.go
	Tab      string // "held" on the pages of held mail, "chart" on the chart
	Query    string
	Since    string
	Records  []history.Record
	Record   *history.Record
	Held     *heldView
	Chart    *chartView
	Error    string
	Searched bool
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	v := view{Query: r.FormValue("q"), Since: r.FormValue("since")}
	q := history.Query{Words: history.ParseQuery(v.Query), Limit: 200}
	v.Searched = v.Query != "" || v.Since != ""
	if v.Since != "" {
		d, err := parseAge(v.Since)
		if err != nil {
			v.Error = tr(langOf(r), "err_since")
			h.render(w, r, http.StatusBadRequest, v)
			return
		}
		q.Since = time.Now().Add(-d)
	}
	s := h.store()
	if s == nil {
		v.Error = tr(langOf(r), "err_no_history")
		h.render(w, r, http.StatusServiceUnavailable, v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	recs, err := s.Search(ctx, q)
	if err != nil {
		h.log.Warn("console: search failed", "error", err)
		v.Error = tr(langOf(r), "err_store")
		h.render(w, r, http.StatusServiceUnavailable, v)
		return
	}
	v.Records = recs
	h.render(w, r, http.StatusOK, v)
}

func (h *handler) decision(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s := h.store()
	if err != nil || id <= 0 || s == nil {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	rec, err := s.Get(ctx, id)
	switch {
	case errors.Is(err, history.ErrNotFound):
		http.NotFound(w, r)
		return
	case err != nil:
		h.log.Warn("console: reading a decision failed", "id", id, "error", err)
		h.render(w, r, http.StatusServiceUnavailable, view{Error: tr(langOf(r), "err_store")})
		return
	}
	h.render(w, r, http.StatusOK, view{Record: &rec})
}

// render writes page.html of v, in the request's language.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	v.Lang = langOf(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		h.log.Warn("console: rendering", "error", err)
	}
}

// CheckAccess checks what the console at addr will be served under: a
// web configuration that reads, and beyond loopback one that asks for a
// login (a web configuration without basic_auth_users serves everyone).
func CheckAccess(addr, webConfig string) error {
	if err := webconfig.Validate(webConfig); err != nil {
		return err
	}
	if webconfig.Loopback(addr) {
		return nil
	}
	users, err := webconfig.HasUsers(webConfig)
	if err != nil {
		return err
	}
	if !users {
		return fmt.Errorf("web_config %s has no basic_auth_users: beyond loopback the console needs a login", webConfig)
	}
	return nil
}

// loopbackHost refuses a request whose Host is not a loopback name: a
// console without a login is for loopback, and a web page elsewhere that
// has its own name resolve to 127.0.0.1 (DNS rebinding) must not read it,
// nor post to it with the tokens of its pages.
func loopbackHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if ip, err := netip.ParseAddr(host); (err != nil || !ip.IsLoopback()) && host != "localhost" {
			http.Error(w, "this console answers to loopback names only (127.0.0.1, [::1], localhost)", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secure adds the headers that keep a page that runs no script from
// running any, or from being framed.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// parseAge parses the since field: "24h", "7d".
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, errors.New("since: want an age such as 24h or 7d")
}

// Serve listens on addr and serves h, under the web configuration file
// webConfig when it is set (TLS and basic auth; see package webconfig),
// until the returned function is called with a context bounding the
// shutdown.
func Serve(addr, webConfig string, h http.Handler, log *slog.Logger) (func(context.Context) error, error) {
	if err := CheckAccess(addr, webConfig); err != nil {
		return nil, err
	}
	users, _ := webconfig.HasUsers(webConfig)
	if !users {
		h = loopbackHost(h)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, MaxHeaderBytes: 64 << 10, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	webconfig.Serve(ln, srv, webConfig, log, "console")
	return srv.Shutdown, nil
}
