package main

// Held mail released or deleted through a spool, for a daemon that may not
// gain privileges (the packaged systemd unit runs it as user sekisho with
// NoNewPrivileges=yes, so neither sudo nor a set-group-id program works
// for it, and postsuper needs root).
//
// The console's release_command and delete_command are `sekisho
// held-request -spool DIR release|delete`: run as the daemon's user, it
// writes a request (action, queue id, who, a request id) into DIR/tmp,
// renames it into DIR/new, and waits a bounded time for DIR/done/ID.
// `sekisho held-apply -spool DIR`, run as root by sekisho-held.service
// when sekisho-held.path sees DIR/new not empty, takes each request out,
// checks it strictly (a regular file of the daemon's user, not a link,
// small, one JSON object of known fields, an action it knows, a Postfix
// queue id), runs postsuper -H then postqueue -i, or postsuper -d, on
// that one message of the hold queue, and writes the outcome to
// DIR/done/ID. The spool's user can ask for nothing but the release or
// deletion of one held message by its queue id.
//
// DIR itself is root's and not writable by the spool's user, who owns
// only tmp, new, done and bad inside it: that user can neither rename nor
// replace those directories (with a link to elsewhere, say), so that
// nothing root does in them, nor the package's scripts making them, can
// be turned onto another file. An entry of new/ that cannot be removed
// (a directory with entries) is moved into bad/, so that new/ empties
// and the path unit stops starting the service.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sekisho/sekisho/policy"
)

const (
	// heldRequestMax bounds a request file: a larger one is refused unread.
	heldRequestMax = 4096
	// heldCommandTimeout bounds each Postfix command held-apply runs.
	heldCommandTimeout = time.Minute
	// heldBatchMax bounds how many entries of new/ one run of held-apply
	// reads; the rest are for the next run, which the path unit starts
	// as new/ is still not empty.
	heldBatchMax = 1000
	// heldUserEnv and heldRemoteEnv name who asked, as the console
	// passes it to its commands.
	heldUserEnv   = "SEKISHO_CONSOLE_USER"
	heldRemoteEnv = "SEKISHO_CONSOLE_REMOTE"
)

var (
	// heldIDRE matches Postfix queue ids: short ones (hexadecimal:
	// microseconds, then the inode) and long ones (enable_long_queue_ids:
	// seconds and microseconds in base 51, "z", the inode in base 51;
	// the alphabet has no vowels and no z).
	heldIDRE = regexp.MustCompile(`^(?:[0-9A-F]{6,24}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]{6,24}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]{1,16})$`)
	// heldRequestIDRE matches a request id, which is also its file name.
	heldRequestIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	// heldTextRE bounds who asked: printable, no control characters.
	heldTextRE = regexp.MustCompile(`^[^\x00-\x1f\x7f]{0,256}$`)
)

// heldRequest is one request file.
type heldRequest struct {
	ID      string    `json:"id"`
	Action  string    `json:"action"` // release or delete
	QueueID string    `json:"queue_id"`
	User    string    `json:"user"`   // the console's login, "" without one
	Remote  string    `json:"remote"` // the console's client
	Time    time.Time `json:"time"`
}

// heldResult is one result file.
type heldResult struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// heldSpoolDirs are the spool's directories, all of its user: requests
// being written, requests to apply (the one sekisho-held.path watches),
// results, and what held-apply could not remove from new/.
var heldSpoolDirs = []string{"tmp", "new", "done", "bad"}

// heldRequestDirs are those held-request writes to or reads from.
var heldRequestDirs = heldSpoolDirs[:3]

// runHeldRequest is `sekisho held-request`.
func runHeldRequest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sekisho held-request", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sekisho held-request -spool DIR [-wait D] release|delete QUEUEID")
		fmt.Fprintln(stderr, "Asks sekisho held-apply (run as root by sekisho-held.path) to release or delete one held message, and waits for its answer.")
		fs.PrintDefaults()
	}
	spool := fs.String("spool", "", "the spool `directory` that sekisho held-apply reads (required)")
	wait := fs.Duration("wait", 20*time.Second, "how long to wait for the answer; keep it under the console's 30s")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *spool == "" || fs.NArg() != 2 || *wait <= 0 {
		fs.Usage()
		return 2
	}
	r := heldRequest{Action: fs.Arg(0), QueueID: fs.Arg(1), User: os.Getenv(heldUserEnv), Remote: os.Getenv(heldRemoteEnv), Time: time.Now().UTC()}
	res, err := heldAsk(*spool, r, *wait, 50*time.Millisecond)
	if err != nil {
		fmt.Fprintf(stderr, "sekisho held-request: %v\n", err)
		return 1
	}
	if !res.OK {
		fmt.Fprintf(stderr, "sekisho held-request: %s %s: %s\n", r.Action, r.QueueID, res.Error)
		return 1
	}
	fmt.Fprintf(stdout, "%s %s: done (request %s)\n", r.Action, r.QueueID, res.ID)
	return 0
}

// checkHeldRequest checks the fields of a request, as both sides do.
func checkHeldRequest(r heldRequest) error {
	switch {
	case r.Action != "release" && r.Action != "delete":
		return fmt.Errorf("action %q: want release or delete", r.Action)
	case !heldIDRE.MatchString(r.QueueID):
		return fmt.Errorf("queue id %q is not a Postfix queue id", r.QueueID)
	case !heldTextRE.MatchString(r.User) || !heldTextRE.MatchString(r.Remote):
		return errors.New("user or remote: control characters or longer than 256 bytes")
	}
	return nil
}

// heldAsk writes r (with a new id) into spool and waits up to wait for its
// result, looking every poll. A request still unanswered is taken back
// when it can be: then nothing was done.
func heldAsk(spool string, r heldRequest, wait, poll time.Duration) (heldResult, error) {
	if err := checkHeldRequest(r); err != nil {
		return heldResult{}, err
	}
	var b [16]byte
	rand.Read(b[:])
	r.ID = hex.EncodeToString(b[:])
	data, _ := json.Marshal(r)
	data = append(data, '\n')
	tmp := filepath.Join(spool, "tmp", r.ID)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return heldResult{}, fmt.Errorf("writing the request: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	// Renamed whole into new/: held-apply never sees half a request.
	newPath := filepath.Join(spool, "new", r.ID)
	if err == nil {
		err = os.Rename(tmp, newPath)
	}
	if err != nil {
		os.Remove(tmp)
		return heldResult{}, fmt.Errorf("writing the request: %w", err)
	}
	done := filepath.Join(spool, "done", r.ID)
	for deadline := time.Now().Add(wait); ; time.Sleep(poll) {
		b, err := os.ReadFile(done)
		if err == nil {
			os.Remove(done)
			var res heldResult
			if err := json.Unmarshal(b, &res); err != nil || res.ID != r.ID {
				return heldResult{}, fmt.Errorf("request %s: unreadable answer %q", r.ID, b)
			}
			return res, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return heldResult{}, fmt.Errorf("reading the answer: %w", err)
		}
		if time.Now().After(deadline) {
			break
		}
	}
	if err := os.Remove(newPath); err == nil {
		return heldResult{}, fmt.Errorf("request %s: no answer within %v, so it was taken back and nothing was done: is sekisho-held.path active (systemctl status sekisho-held.path)?", r.ID, wait)
	}
	return heldResult{}, fmt.Errorf("request %s: taken by sekisho held-apply but not answered within %v: see journalctl -u sekisho-held.service", r.ID, wait)
}

// runHeldApply is `sekisho held-apply`.
func runHeldApply(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sekisho held-apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sekisho held-apply -spool DIR [-user NAME] [-postfix-config DIR]")
		fmt.Fprintln(stderr, "Run as root (by sekisho-held.service): applies each release or delete request that sekisho held-request wrote into DIR/new.")
		fs.PrintDefaults()
	}
	spool := fs.String("spool", "", "the spool `directory` (required)")
	userName := fs.String("user", "sekisho", "the `user` who writes the requests: the spool's tmp, new, done and bad and each request must be its (the spool itself root's)")
	pfConfig := fs.String("postfix-config", "", "Postfix's configuration `directory`, passed as -c to postsuper and postqueue; \"\" = their default")
	postsuper := fs.String("postsuper", "/usr/sbin/postsuper", "`path` of postsuper")
	postqueue := fs.String("postqueue", "/usr/sbin/postqueue", "`path` of postqueue")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *spool == "" || fs.NArg() > 0 || !filepath.IsAbs(*spool) {
		fs.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	u, err := user.Lookup(*userName)
	if err != nil {
		log.Error("held-apply: cannot look up the spool's user", "user", *userName, "error", err)
		return 1
	}
	uid, _ := strconv.Atoi(u.Uid)
	a := heldApplier{uid: uid, log: log, run: func(ctx context.Context, r heldRequest) error {
		return heldPostfix(ctx, r, *postsuper, *postqueue, *pfConfig, log)
	}}
	if err := a.apply(*spool); err != nil {
		log.Error("held-apply: spool refused", "spool", *spool, "error", err)
		return 1
	}
	return 0
}

// heldApplier applies the requests of a spool whose directories uid owns;
// run does one. max bounds the entries of new/ one apply reads; 0 means
// heldBatchMax.
type heldApplier struct {
	uid int
	log *slog.Logger
	run func(context.Context, heldRequest) error
	max int
}

// openHeldDir opens a directory under dirfd without following a link and
// checks that uid owns it and that nobody else may write to it.
func openHeldDir(dirfd int, name string, uid int) (int, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", name, err)
	}
	if int(st.Uid) != uid || st.Mode&0o022 != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: owned by uid %d with mode %o; want uid %d and no write for group or others", name, st.Uid, st.Mode&0o7777, uid)
	}
	return fd, nil
}

// apply takes each request out of spool/new and applies it. An error means
// the spool itself was refused; each request's outcome is in its result.
// The spool must be root's, its directories uid's, none of them writable
// by group or others.
func (a heldApplier) apply(spool string) error {
	top, err := openHeldDir(unix.AT_FDCWD, spool, 0)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	newfd, err := openHeldDir(top, "new", a.uid)
	if err != nil {
		return err
	}
	newDir := os.NewFile(uintptr(newfd), filepath.Join(spool, "new"))
	defer newDir.Close()
	donefd, err := openHeldDir(top, "done", a.uid)
	if err != nil {
		return err
	}
	defer unix.Close(donefd)
	badfd, err := openHeldDir(top, "bad", a.uid)
	if err != nil {
		return err
	}
	defer unix.Close(badfd)
	limit := a.max
	if limit <= 0 {
		limit = heldBatchMax
	}
	names, err := newDir.Readdirnames(limit)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("new: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		r, rerr := readHeldRequest(newfd, name, a.uid)
		// Out before it is applied: a request is never applied twice.
		if err := a.takeOut(newfd, badfd, name); err != nil {
			a.log.Error("held-apply: request neither removed nor moved to bad/, so not applied", "request", name, "error", err)
			continue
		}
		res := heldResult{ID: name, OK: rerr == nil}
		if rerr != nil {
			res.Error = "request refused: " + rerr.Error()
			a.log.Warn("held-apply: request refused", "request", name, "error", rerr)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 2*heldCommandTimeout)
			err := a.run(ctx, r)
			cancel()
			attrs := []any{"request", r.ID, "action", r.Action, "queue_id", r.QueueID, "user", r.User, "remote", r.Remote}
			if err != nil {
				res.OK, res.Error = false, err.Error()
				a.log.Warn("held-apply: held message not "+heldPast(r.Action), append(attrs, "error", err)...)
			} else {
				a.log.Info("held-apply: held message "+heldPast(r.Action), attrs...)
			}
		}
		if !heldRequestIDRE.MatchString(name) {
			continue // no one waits under such a name
		}
		if err := writeHeldResult(donefd, res); err != nil {
			a.log.Error("held-apply: result not written", "request", name, "error", err)
		}
	}
	return nil
}

// takeOut removes the entry name of new/, or, when it cannot be removed
// (a directory with entries), renames it into bad/ under a name of its
// own, so that new/ empties and the path unit does not start the service
// again and again for it.
func (a heldApplier) takeOut(newfd, badfd int, name string) error {
	err := unix.Unlinkat(newfd, name, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(newfd, name, unix.AT_REMOVEDIR)
	}
	if err == nil {
		return nil
	}
	var b [8]byte
	rand.Read(b[:])
	moved := time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
	merr := unix.Renameat2(newfd, name, badfd, moved, unix.RENAME_NOREPLACE)
	if errors.Is(merr, unix.EINVAL) { // a file system without RENAME_NOREPLACE
		merr = unix.Renameat(newfd, name, badfd, moved)
	}
	if merr != nil {
		return fmt.Errorf("%v; moving it to bad/: %v", err, merr)
	}
	a.log.Warn("held-apply: entry of new/ not removable, moved to bad/", "request", name, "bad", moved, "error", err)
	return nil
}

// readHeldRequest reads and checks the request name in the directory
// dirfd: a regular file of uid with one link, not a symbolic link, at most
// heldRequestMax bytes, holding one JSON object of known fields whose id
// is its name.
func readHeldRequest(dirfd int, name string, uid int) (heldRequest, error) {
	var r heldRequest
	if !heldRequestIDRE.MatchString(name) {
		return r, fmt.Errorf("file name %q is not a request id", name)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return r, errors.New("a symbolic link")
		}
		return r, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return r, err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return r, errors.New("not a regular file")
	case int(st.Uid) != uid:
		return r, fmt.Errorf("owned by uid %d, not %d", st.Uid, uid)
	case st.Nlink != 1:
		return r, fmt.Errorf("%d links to it", st.Nlink)
	case st.Size > heldRequestMax:
		return r, fmt.Errorf("%d bytes, more than %d", st.Size, heldRequestMax)
	}
	b, err := io.ReadAll(io.LimitReader(f, heldRequestMax+1))
	if err != nil {
		return r, err
	}
	if len(b) > heldRequestMax {
		return r, fmt.Errorf("more than %d bytes", heldRequestMax)
	}
	// Written whole, it ends with a newline: anything short of that is
	// half a request.
	if !bytes.HasSuffix(b, []byte("\n")) {
		return r, errors.New("incomplete: no final newline")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("not a request: %w", err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return r, errors.New("more than one JSON object")
	}
	if r.ID != name {
		return r, fmt.Errorf("id %q is not the file's name", r.ID)
	}
	return r, checkHeldRequest(r)
}

// writeHeldResult writes res as done/ID, whole: through a new file that no
// link can stand in for, then renamed.
func writeHeldResult(donefd int, res heldResult) error {
	data, _ := json.Marshal(res)
	data = append(data, '\n')
	tmp := "." + res.ID + ".tmp"
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(donefd, tmp, flags, 0o644)
	if errors.Is(err, unix.EEXIST) {
		unix.Unlinkat(donefd, tmp, 0)
		fd, err = unix.Openat(donefd, tmp, flags, 0o644)
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(donefd, tmp, donefd, res.ID)
	}
	if err != nil {
		unix.Unlinkat(donefd, tmp, 0)
	}
	return err
}

// heldPostfix releases (postsuper -H, then postqueue -i) or deletes
// (postsuper -d) one message of the hold queue. postsuper exits 0 for a
// queue id it did not find; what it did is read from its report.
func heldPostfix(ctx context.Context, r heldRequest, postsuper, postqueue, config string, log *slog.Logger) error {
	run := func(prog string, args ...string) (string, error) {
		if config != "" {
			args = append([]string{"-c", config}, args...)
		}
		ctx, cancel := context.WithTimeout(ctx, heldCommandTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, prog, args...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		out, err := cmd.CombinedOutput()
		text := strings.TrimSpace(string(out))
		if len(text) > 500 {
			text = text[:500] + "…"
		}
		if err != nil {
			return text, fmt.Errorf("%s %s: %v: %s", filepath.Base(prog), strings.Join(args, " "), err, text)
		}
		return text, nil
	}
	// The queue name "hold" keeps postsuper to the hold queue: a queue
	// id cannot delete mail on its way elsewhere.
	if r.Action == "delete" {
		out, err := run(postsuper, "-d", r.QueueID, "hold")
		if err == nil && !strings.Contains(out, "Deleted: 1 message") {
			err = fmt.Errorf("message %s is not in the hold queue (postsuper: %q)", r.QueueID, out)
		}
		return err
	}
	out, err := run(postsuper, "-H", r.QueueID, "hold")
	if err == nil && !strings.Contains(out, "Released from hold: 1 message") {
		err = fmt.Errorf("message %s is not in the hold queue (postsuper: %q)", r.QueueID, out)
	}
	if err != nil {
		return err
	}
	// Released already: a flush that fails leaves it to the next queue
	// run, which is no failure of the release.
	if _, err := run(postqueue, "-i", r.QueueID); err != nil {
		log.Warn("held-apply: released message not flushed; it goes at the next queue run", "queue_id", r.QueueID, "error", err)
	}
	return nil
}

func heldPast(action string) string {
	if action == "release" {
		return "released"
	}
	return "deleted"
}

// heldCommandWarnings explains, for -check, what each form of the
// console's held-mail commands needs and lacks here: sekisho
// held-request a spool it can write to (and sekisho-held.path to answer
// it); sudo and postqueue's set-group-id a process that may gain
// privileges, which one under no_new_privs (systemd's NoNewPrivileges=yes,
// as in the packaged unit) is not.
func heldCommandWarnings(c policy.ConsoleConfig) []string {
	var out []string
	nnp := noNewPrivs()
	for _, k := range []struct {
		key, action string
		cmd         []string
	}{{"queue_command", "listed", c.QueueCommand}, {"release_command", "release", c.ReleaseCommand},
		{"flush_command", "flushed", c.FlushCommand}, {"delete_command", "delete", c.DeleteCommand}} {
		if len(k.cmd) == 0 {
			continue
		}
		switch prog := filepath.Base(k.cmd[0]); {
		case len(k.cmd) > 1 && k.cmd[1] == "held-request" && (k.action == "release" || k.action == "delete"):
			if w := heldRequestWarning(k.cmd[2:], k.action); w != "" {
				out = append(out, fmt.Sprintf("console.%s: %s", k.key, w))
			}
		case prog == "sudo" && nnp:
			out = append(out, fmt.Sprintf("console.%s runs sudo, which cannot gain privileges in a process with no_new_privs (systemd's NoNewPrivileges=yes, as in the packaged unit): there use [\"/usr/sbin/sekisho\", \"held-request\", \"-spool\", \"/var/lib/sekisho-held\", \"release\" or \"delete\"] with sekisho-held.path", k.key))
		case prog == "postqueue" && nnp && os.Geteuid() != 0 && !inGroup("postdrop"):
			out = append(out, fmt.Sprintf("console.%s runs postqueue, whose set-group-id postdrop does not work under no_new_privs (systemd's NoNewPrivileges=yes): put this user in group postdrop (usermod --append --groups postdrop sekisho, as the package does)", k.key))
		}
	}
	return out
}

// heldRequestWarning says what a held-request command (its arguments
// after held-request) lacks: its flags, its action, its spool.
func heldRequestWarning(args []string, action string) string {
	fs := flag.NewFlagSet("held-request", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	spool := fs.String("spool", "", "")
	fs.Duration("wait", 0, "")
	if err := fs.Parse(args); err != nil || *spool == "" || fs.NArg() != 1 || fs.Arg(0) != action {
		return fmt.Sprintf("want [\"/usr/sbin/sekisho\", \"held-request\", \"-spool\", \"DIR\", %q] (the queue id is appended)", action)
	}
	layout := fmt.Sprintf("make %s root's, not writable by this user (root:sekisho 0750), with tmp, new, done and bad in it owned by this user, mode 0750 (the package makes /var/lib/sekisho-held), and have sekisho-held.path run `sekisho held-apply -spool %s` as root",
		*spool, *spool)
	// held-apply refuses a spool its user could rename or replace the
	// directories of: one not root's, or writable by group or others.
	var st unix.Stat_t
	if err := unix.Lstat(*spool, &st); err == nil && (st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&0o022 != 0) {
		return fmt.Sprintf("the spool %s is not a directory of root's that group and others cannot write (uid %d, mode %o), so sekisho held-apply refuses it: held mail cannot be %sd; %s",
			*spool, st.Uid, st.Mode&0o7777, action, layout)
	}
	for _, d := range heldRequestDirs {
		p := filepath.Join(*spool, d)
		if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Sprintf("the spool's %s: %v: held mail cannot be asked to be %sd; %s", p, err, action, layout)
		}
	}
	return ""
}

// noNewPrivs reports whether this process runs with no_new_privs set.
func noNewPrivs() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	return err == nil && v == 1
}

// inGroup reports whether this process has the group name among its own.
func inGroup(name string) bool {
	g, err := user.LookupGroup(name)
	if err != nil {
		return false
	}
	gid, _ := strconv.Atoi(g.Gid)
	groups, _ := os.Getgroups()
	return os.Getegid() == gid || slices.Contains(groups, gid)
}
