package console

// Held mail: the messages in Postfix's hold queue that sekisho put there
// (quarantine), with the decision that held each, and their release or
// deletion. The queue is read with Postfix's own tools, as an
// administrator would (postqueue -j), and a message is released or
// deleted with the configured commands (postsuper -H or -d through sudo,
// since only root may change the queue, or sekisho held-request, which
// asks a root service to); only a message that is in the
// hold queue now and that the history says sekisho held can be. Each
// action is confirmed on a page of its own, carries a token only the
// console's own pages hold (so that another site cannot make a browser
// post it), and is written to the audit log before the page answers; an
// audit log that cannot be written stops the action.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/policy/history"
	"github.com/sekisho/sekisho/policy/webconfig"
)

// Held says how the console reaches the hold queue. Each command is a
// program and its arguments; the queue id is appended to Release, Flush
// and Delete. An empty Queue turns the held list off; an empty Release or
// Delete turns that action off; an empty Flush leaves a released message
// to the next queue run.
type Held struct {
	Queue, Release, Flush, Delete []string
	// AuditLog is the file each action is appended to, one JSON object
	// per line; "" writes it to the daemon's log only.
	AuditLog string
	// Timeout bounds each command; 0 means 30 seconds.
	Timeout time.Duration
	// Now is the clock of the audit log; nil means time.Now.
	Now func() time.Time
}

// maxHeld is how many held messages the list shows.
const maxHeld = 500

// queueIDRE matches Postfix queue ids, short and long.
var queueIDRE = regexp.MustCompile(`^[0-9A-Za-z]{5,32}$`)

// queueEntry is one message of postqueue -j.
type queueEntry struct {
	QueueName   string `json:"queue_name"`
	QueueID     string `json:"queue_id"`
	ArrivalTime int64  `json:"arrival_time"`
	Size        int64  `json:"message_size"`
	Sender      string `json:"sender"`
	Recipients  []struct {
		Address string `json:"address"`
	} `json:"recipients"`
}

// heldRow is a held message as the list shows it: the queue's entry and
// the decision that held it.
type heldRow struct {
	QueueID string
	Arrival time.Time
	Size    int64
	Sender  string
	Rcpts   []string
	Record  history.Record
}

// heldView is the held-mail part of a page.
type heldView struct {
	Rows                  []heldRow
	Others                int  // held messages sekisho did not hold
	More                  bool // the list was cut at maxHeld
	CanRelease, CanDelete bool
	Confirm               *heldRow
	Action                string // release or delete, on the confirmation page
	Token                 string
	Done                  string // what was done, on the result page
}

// heldKey signs the tokens of this process's pages.
var heldKey = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

// heldTokenLife is how long the token of a confirmation page is good for.
const heldTokenLife = 15 * time.Minute

// heldToken confirms action on message id for user (the one basic auth
// verified, "" without a login), until the time given: "UNIX.HMAC". A
// page left open, or a token seen by someone else, does not serve later.
func heldToken(action, id, user string, until time.Time) string {
	exp := strconv.FormatInt(until.Unix(), 10)
	m := hmac.New(sha256.New, heldKey)
	m.Write([]byte(action + "\x00" + id + "\x00" + user + "\x00" + exp))
	return exp + "." + hex.EncodeToString(m.Sum(nil))
}

// heldTokenOK reports whether tok confirms action on id for user at now.
func heldTokenOK(tok, action, id, user string, now time.Time) bool {
	exp, _, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return false
	}
	until := time.Unix(sec, 0)
	if !now.Before(until) || until.Sub(now) > heldTokenLife {
		return false
	}
	return hmac.Equal([]byte(tok), []byte(heldToken(action, id, user, until)))
}

// command runs a configured command with extra arguments, within the
// timeout, and returns its output. env is added to the command's
// environment.
func (h *handler) command(ctx context.Context, env, argv []string, extra ...string) ([]byte, error) {
	t := h.held.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	args := append(append([]string{}, argv[1:]...), extra...)
	cmd := exec.CommandContext(ctx, argv[0], args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return nil, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, msg)
	}
	return out.Bytes(), nil
}

// heldNow reads the hold queue and joins each message with the decision
// that held it; messages the history does not say sekisho held are only
// counted.
func (h *handler) heldNow(ctx context.Context, s history.Store) (heldView, error) {
	var v heldView
	out, err := h.command(ctx, nil, h.held.Queue)
	if err != nil {
		return v, err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e queueEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.QueueName != "hold" || !queueIDRE.MatchString(e.QueueID) {
			continue
		}
		if len(v.Rows) == maxHeld {
			v.More = true
			break
		}
		rec, ok, err := heldRecord(ctx, s, e.QueueID, time.Unix(e.ArrivalTime, 0))
		if err != nil {
			return v, err
		}
		if !ok {
			v.Others++
			continue
		}
		row := heldRow{QueueID: e.QueueID, Arrival: time.Unix(e.ArrivalTime, 0), Size: e.Size, Sender: e.Sender, Record: rec}
		for _, r := range e.Recipients {
			row.Rcpts = append(row.Rcpts, r.Address)
		}
		v.Rows = append(v.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return v, fmt.Errorf("reading %s: %w", strings.Join(h.held.Queue, " "), err)
	}
	return v, nil
}

// heldRecord finds the decision that held the message with queue id id,
// which arrived at arrival. Postfix uses queue ids again, so a decision
// counts only when it was made within an hour of the message's arrival:
// an old quarantine does not make a message held by something else
// sekisho's to release.
func heldRecord(ctx context.Context, s history.Store, id string, arrival time.Time) (history.Record, bool, error) {
	recs, err := s.Search(ctx, history.Query{Words: []string{id}, Since: arrival.Add(-time.Hour), Until: arrival.Add(time.Hour), Limit: 100})
	if err != nil {
		return history.Record{}, false, err
	}
	for _, r := range recs {
		if r.QueueID == id && r.Action == "quarantine" && !r.DryRun {
			return r, true, nil
		}
	}
	return history.Record{}, false, nil
}

func (h *handler) heldList(w http.ResponseWriter, r *http.Request) {
	v := view{Tab: "held"}
	if len(h.held.Queue) == 0 {
		v.Error = tr(langOf(r), "err_held_off")
		h.render(w, r, http.StatusNotFound, v)
		return
	}
	s := h.store()
	if s == nil {
		v.Error = tr(langOf(r), "err_no_history")
		h.render(w, r, http.StatusServiceUnavailable, v)
		return
	}
	hv, err := h.heldNow(r.Context(), s)
	if err != nil {
		h.log.Warn("console: reading the hold queue failed", "error", err)
		v.Error = tr(langOf(r), "err_queue", err.Error())
		h.render(w, r, http.StatusServiceUnavailable, v)
		return
	}
	hv.CanRelease, hv.CanDelete = len(h.held.Release) > 0, len(h.held.Delete) > 0
	v.Held = &hv
	h.render(w, r, http.StatusOK, v)
}

// heldOne finds the held message a request names, as the list would show
// it; it answers the request itself when there is none.
func (h *handler) heldOne(w http.ResponseWriter, r *http.Request) (string, heldRow, bool) {
	action, id := r.PathValue("action"), r.PathValue("id")
	if (action != "release" || len(h.held.Release) == 0) && (action != "delete" || len(h.held.Delete) == 0) ||
		!queueIDRE.MatchString(id) || len(h.held.Queue) == 0 {
		http.NotFound(w, r)
		return "", heldRow{}, false
	}
	s := h.store()
	if s == nil {
		http.NotFound(w, r)
		return "", heldRow{}, false
	}
	hv, err := h.heldNow(r.Context(), s)
	if err != nil {
		h.log.Warn("console: reading the hold queue failed", "error", err)
		h.render(w, r, http.StatusServiceUnavailable, view{Tab: "held", Error: tr(langOf(r), "err_queue", err.Error())})
		return "", heldRow{}, false
	}
	for _, row := range hv.Rows {
		if row.QueueID == id {
			return action, row, true
		}
	}
	h.render(w, r, http.StatusNotFound, view{Tab: "held", Error: tr(langOf(r), "err_not_held", id)})
	return "", heldRow{}, false
}

func (h *handler) heldConfirm(w http.ResponseWriter, r *http.Request) {
	action, row, ok := h.heldOne(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, view{Tab: "held", Held: &heldView{Confirm: &row, Action: action, Token: heldToken(action, row.QueueID, webconfig.User(r), time.Now().Add(heldTokenLife))}})
}

// auditEntry is one line of the audit log.
type auditEntry struct {
	Time    time.Time `json:"time"`
	User    string    `json:"user"`   // the basic-auth user, "" without a login
	Remote  string    `json:"remote"` // the client's address
	Action  string    `json:"action"` // release or delete
	QueueID string    `json:"queue_id"`
	Sender  string    `json:"sender"`
	Rcpts   []string  `json:"rcpts"`
	Rule    string    `json:"rule"`
	// Attempt marks the line written before the action; the line after
	// it says how it went (OK, Error).
	Attempt bool   `json:"attempt,omitempty"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

func (h *handler) heldDo(w http.ResponseWriter, r *http.Request) {
	// A browser names the page a form was posted from; another site's is
	// refused even before the token is looked at.
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameOrigin(o, r.Host) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	action, row, ok := h.heldOne(w, r)
	if !ok {
		return
	}
	if !heldTokenOK(r.PostFormValue("token"), action, row.QueueID, webconfig.User(r), time.Now()) {
		http.Error(w, "this action was not confirmed on the console's own page, by this user, within "+heldTokenLife.String()+": confirm it again", http.StatusForbidden)
		return
	}
	var audit *os.File
	if h.held.AuditLog != "" {
		f, err := os.OpenFile(h.held.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			h.log.Error("console: the audit log cannot be written: nothing was done", "audit_log", h.held.AuditLog, "error", err)
			h.render(w, r, http.StatusInternalServerError, view{Tab: "held", Error: tr(langOf(r), "err_audit", err.Error())})
			return
		}
		defer f.Close()
		audit = f
	}
	now := time.Now
	if h.held.Now != nil {
		now = h.held.Now
	}
	e := auditEntry{Time: now().UTC(), User: webconfig.User(r), Remote: r.RemoteAddr, Action: action, QueueID: row.QueueID,
		Sender: row.Sender, Rcpts: row.Rcpts, Rule: row.Record.Rule, Attempt: true}
	// The attempt is on disk before anything is done: an audit log that
	// cannot take it stops the action.
	if audit != nil {
		line, _ := json.Marshal(e)
		_, werr := audit.Write(append(line, '\n'))
		if werr == nil {
			werr = audit.Sync()
		}
		if werr != nil {
			h.log.Error("console: the audit log cannot be written: nothing was done", "audit_log", h.held.AuditLog, "error", werr)
			h.render(w, r, http.StatusInternalServerError, view{Tab: "held", Error: tr(langOf(r), "err_audit", werr.Error())})
			return
		}
	}
	e.Attempt = false
	// Once begun, the commands finish even if the browser goes: a command
	// killed half way would leave the queue and the audit log disagreeing.
	ctx := context.WithoutCancel(r.Context())
	// Who asked goes to the commands too: sekisho held-request hands it
	// to the root side, which logs it with what it did.
	env := []string{"SEKISHO_CONSOLE_USER=" + e.User, "SEKISHO_CONSOLE_REMOTE=" + e.Remote}
	var err error
	if action == "release" {
		if _, err = h.command(ctx, env, h.held.Release, row.QueueID); err == nil && len(h.held.Flush) > 0 {
			// Released already: a flush that fails leaves it to the
			// next queue run, which is no failure of the release.
			if _, ferr := h.command(ctx, env, h.held.Flush, row.QueueID); ferr != nil {
				h.log.Warn("console: released message not flushed; it goes at the next queue run", "queue_id", row.QueueID, "error", ferr)
			}
		}
	} else {
		_, err = h.command(ctx, env, h.held.Delete, row.QueueID)
	}
	e.OK = err == nil
	if err != nil {
		e.Error = err.Error()
	}
	line, _ := json.Marshal(e)
	attrs := []any{"action", action, "queue_id", row.QueueID, "user", e.User, "remote", e.Remote, "sender", row.Sender,
		"rcpts", strings.Join(row.Rcpts, ","), "rule", row.Record.Rule, "ok", e.OK}
	if err != nil {
		h.log.Warn("console: held message not "+past(action), append(attrs, "error", err.Error())...)
	} else {
		h.log.Info("console: held message "+past(action), attrs...)
	}
	if audit != nil {
		if _, werr := audit.Write(append(line, '\n')); werr != nil {
			h.log.Error("console: the audit log cannot be written", "audit_log", h.held.AuditLog, "error", werr)
		}
	}
	if err != nil {
		h.render(w, r, http.StatusBadGateway, view{Tab: "held", Error: tr(langOf(r), "err_not_"+past(action), row.QueueID, err.Error())})
		return
	}
	h.render(w, r, http.StatusOK, view{Tab: "held", Held: &heldView{Done: tr(langOf(r), "done_"+action, row.QueueID)}})
}

func past(action string) string {
	if action == "release" {
		return "released"
	}
	return "deleted"
}

// sameOrigin reports whether an Origin header names the host the request
// was sent to.
func sameOrigin(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(rest, host)
}
