// Command sekisho is a milter that enforces an inbound-mail policy inside
// Postfix or Sendmail. It only wires things together: the rules live in
// package policy, the protocol in package milter.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/history/console"
	"github.com/sekisho/sekisho/policy/metrics"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module version the Go
// toolchain recorded (see buildVersion).
var version string

// buildVersion returns the version sekisho_build_info shows: the one set
// at build time, the module's version when installed with go install, or
// "(devel)" for a build from a source tree.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionLine is what -version prints: the version, the VCS revision and
// time the toolchain recorded (with "modified" for a build from a tree with
// uncommitted changes) and the Go version.
func versionLine() string {
	line := "sekisho " + buildVersion()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return line
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		line += " revision " + rev
		if modified == "true" {
			line += " (modified)"
		}
	}
	if at != "" {
		line += " time " + at
	}
	return line + " " + bi.GoVersion
}

func main() {
	if os.Getenv("GOGC") == "" {
		tuneGC()
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageLine is the synopsis -h and every usage error print.
const usageLine = `usage: sekisho [-config FILE] [-listen ADDR] [-cpuprofile FILE]
       sekisho -check [-config FILE] [-listen ADDR]
       sekisho -print-config [-config FILE]
       sekisho -version
       sekisho scan [flags] PATH...   (sekisho scan -h for its flags)
       sekisho history [flags] [ID]   (sekisho history -h for its flags)
       sekisho digest [flags]         (sekisho digest -h for its flags)
       sekisho held-request -spool DIR release|delete QUEUEID
       sekisho held-apply -spool DIR  (as root: sekisho held-apply -h)`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "scan":
			return runScan(args[1:], stdout, stderr)
		case "history":
			return runHistory(args[1:], stdout, stderr)
		case "digest":
			return runDigest(args[1:], stdout, stderr)
		case "held-request":
			return runHeldRequest(args[1:], stdout, stderr)
		case "held-apply":
			return runHeldApply(args[1:], stdout, stderr)
		case "help":
			fmt.Fprintln(stdout, usageLine)
			return 0
		}
	}
	fs := flag.NewFlagSet("sekisho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usageLine)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "configuration `file` (TOML); the built-in default when empty")
	check := fs.Bool("check", false, "validate the configuration, print every error and exit")
	printConfig := fs.Bool("print-config", false, "print the configuration in force (-config, or the built-in one) with every default filled in, and exit")
	listen := fs.String("listen", "", "listen `address` (inet:HOST:PORT or unix:/PATH), overriding the configuration")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file` until the daemon stops (go tool pprof reads it)")
	showVersion := fs.Bool("version", false, "print the version and the source revision it was built from, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// A word the daemon does not take ("sekisho version", "sekisho foo")
	// must not start a daemon as if it were not there.
	if fs.NArg() > 0 {
		if fs.NArg() == len(args) {
			fmt.Fprintf(stderr, "sekisho: unknown command %q\n", fs.Arg(0))
		} else {
			fmt.Fprintf(stderr, "sekisho: unexpected argument %q (flags come before arguments; the daemon takes none)\n", fs.Arg(0))
		}
		fmt.Fprintln(stderr, usageLine)
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	cfg, err := policy.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *printConfig {
		out, err := cfg.Marshal()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		stdout.Write(out)
		return 0
	}
	fileSocket := socketOf(cfg)
	if *listen != "" {
		cfg.Listen = *listen
		if _, _, err := policy.ParseListen(cfg.Listen); err != nil {
			fmt.Fprintln(stderr, "-listen:", err)
			return 2
		}
	}
	if *check {
		return runCheck(cfg, stdout, stderr)
	}
	logs := newLogHandler(stderr, cfg.Log)
	log := slog.New(logs)
	slog.SetDefault(log)
	// go-milter logs its errors through the standard logger.
	stdlog.SetFlags(0)
	stdlog.SetOutput(milter.LibraryLog(log))
	ratelimit.SetLogger(log)
	// Off unless [metrics] listen is set: nothing is counted then.
	var m *metrics.Metrics
	if cfg.Metrics.Listen != "" {
		m = metrics.New(buildVersion())
	}
	env := &policy.Env{Logger: log, Metrics: m}
	defer env.Close()
	// Off unless [history] store is set; never waited for by mail.
	hist := &historyKeeper{env: env, log: log, metrics: m}
	if err := hist.start(cfg.History); err != nil {
		log.Error("cannot open the history", "error", err)
		return 1
	}
	defer func() {
		// After SIGTERM it is closed already; on any other way out, what
		// is queued gets the shutdown timeout too.
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
		defer cancel()
		hist.close(ctx)
	}()
	engine, err := policy.NewEngine(cfg, env)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	// The endpoint is up before the milter socket: once the MTA can
	// connect, what it does is counted and can be scraped.
	if m != nil {
		stopMetrics, err := m.Serve(cfg.Metrics.Listen, cfg.Metrics.WebConfig, log)
		if err != nil {
			log.Error("cannot serve metrics", "metrics_listen", cfg.Metrics.Listen, "error", err)
			return 1
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stopMetrics(ctx)
		}()
		log.Info("serving metrics", "metrics_listen", cfg.Metrics.Listen, "path", "/metrics")
	}
	if cfg.Console.Listen != "" {
		stopConsole, err := console.Serve(cfg.Console.Listen, cfg.Console.WebConfig, console.Handler(hist.reader, log, console.Held{
			Queue: cfg.Console.QueueCommand, Release: cfg.Console.ReleaseCommand, Flush: cfg.Console.FlushCommand,
			Delete: cfg.Console.DeleteCommand, AuditLog: cfg.Console.AuditLog,
		}), log)
		if err != nil {
			log.Error("cannot serve the console", "console_listen", cfg.Console.Listen, "error", err)
			return 1
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stopConsole(ctx)
		}()
		log.Info("serving the console", "console_listen", cfg.Console.Listen)
	}
	ln, removeSocket, err := listenOn(cfg)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.Listen, "error", err)
		return 1
	}
	defer removeSocket()
	if *cpuProfile != "" {
		stopProfile, err := startProfile(*cpuProfile)
		if err != nil {
			log.Error("cannot profile", "error", err)
			return 1
		}
		defer stopProfile()
	}
	srv := milter.NewServer(engine, log)
	srv.SetMetrics(m)
	log.Info("listening", "listen", cfg.Listen, "config", name(cfg), "rules", engine.Rules(), "mode", cfg.Mode, "version", buildVersion())
	for _, w := range fileWarnings(cfg) {
		log.Warn("unsafe configuration file", "config", name(cfg), "problem", w)
	}
	// Mail is served meanwhile: a service that does not answer costs a
	// WARN, and each message that needs it gets its rule's on_error.
	go func() {
		for _, e := range probeServices(cfg) {
			log.Warn("service not answering", "service", e.kind, "address", e.addr, "key", e.key, "error", e.err)
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	for {
		select {
		case err := <-served:
			if errors.Is(err, milter.ErrServerClosed) {
				return 0
			}
			log.Error("serve", "error", err)
			return 1
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(srv, *configPath, opened{fileSocket, cfg.Metrics.Listen, cfg.Console.Listen}, env, hist, log, func(c policy.LogConfig) { logs.set(stderr, c) })
				continue
			}
			timeout := srv.Engine().Config().ShutdownTimeout.D()
			log.Info("shutting down", "signal", sig.String(), "timeout", timeout.String())
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := srv.Shutdown(ctx)
			if err != nil {
				log.Warn("connections still open at the shutdown timeout were closed", "error", err)
			}
			// What is queued for the history is written in what is left
			// of the timeout.
			hist.close(ctx)
			cancel()
			return 0
		}
	}
}

// runCheck is -check: the whole startup but the socket, whose directory
// and group are tried on a file of its own. Errors (exit 1) are what
// would stop the daemon; warnings (exit 0) what would let it start and
// fail mail, or put the policy at risk.
func runCheck(cfg *policy.Config, stdout, stderr io.Writer) int {
	var errs []error
	// The Redis library's own complaints would repeat the warnings.
	ratelimit.SetLogger(slog.New(slog.DiscardHandler))
	env := &policy.Env{Logger: slog.New(slog.DiscardHandler)}
	defer env.Close()
	if _, err := policy.NewEngine(cfg, env); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, localErrors(cfg)...)
	for _, w := range fileWarnings(cfg) {
		fmt.Fprintf(stderr, "%s: warning: %s\n", name(cfg), w)
	}
	if w := metrics.ExposedWarning(cfg.Metrics.Listen, cfg.Metrics.WebConfig); w != "" {
		fmt.Fprintf(stderr, "%s: warning: [metrics] listen %s: %s\n", name(cfg), cfg.Metrics.Listen, w)
	}
	for _, e := range probeServices(cfg) {
		fmt.Fprintf(stderr, "%s: warning: %v\n", name(cfg), e)
	}
	if w := historyWarning(cfg.History); w != "" {
		fmt.Fprintf(stderr, "%s: warning: %s\n", name(cfg), w)
	}
	for _, w := range consoleWarnings(cfg.Console) {
		fmt.Fprintf(stderr, "%s: warning: %s\n", name(cfg), w)
	}
	for _, err := range errs {
		fmt.Fprintf(stderr, "%s: %v\n", name(cfg), err)
	}
	if len(errs) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", name(cfg))
	return 0
}

// socket is what of a configuration is fixed when the socket is opened.
type socket struct{ listen, mode, group string }

func socketOf(c *policy.Config) socket { return socket{c.Listen, c.SocketMode, c.SocketGroup} }

// opened is what of a configuration was set up at startup and stays: the
// milter socket as the file gave it, and the metrics endpoint.
type opened struct {
	socket  socket
	metrics string // [metrics] listen, "" when off
	console string // [console] listen, "" when off
}

// reload reads the configuration again and swaps it in only if it is
// valid; otherwise the running one keeps serving. The socket (listen,
// socket_mode, socket_group) and the metrics endpoint stay as they were
// opened, and a change to them is logged as needing a restart; the [log]
// table changes, through setLog. The metrics record whether it worked.
func reload(srv *milter.Server, path string, at opened, env *policy.Env, hist *historyKeeper, log *slog.Logger, setLog func(policy.LogConfig)) {
	cfg, err := policy.Load(path)
	if err == nil {
		file := socketOf(cfg)
		fileMetrics, fileConsole := cfg.Metrics.Listen, cfg.Console.Listen
		running := srv.Engine().Config()
		cfg.Listen, cfg.SocketMode, cfg.SocketGroup = running.Listen, running.SocketMode, running.SocketGroup
		cfg.Metrics.Listen, cfg.Console.Listen = at.metrics, at.console
		var e *policy.Engine
		histWas := hist.cfg
		if err = hist.prepare(cfg.History); err == nil {
			if e, err = policy.NewEngine(cfg, env); err != nil {
				hist.rollback(histWas)
			}
		}
		if err == nil {
			hist.commit(cfg.ShutdownTimeout.D())
			old := srv.SetEngine(e)
			env.Metrics.Reload(true)
			if cfg.Log != old.Config().Log {
				// Said under the settings that are going, which may show
				// more than the new ones.
				log.Info("log settings changed", "format", cfg.Log.Format, "level", cfg.Log.Level)
				setLog(cfg.Log)
			}
			log.Info("configuration reloaded", "config", name(cfg), "rules", e.Rules(), "mode", cfg.Mode, "reload_successful", true)
			if file != at.socket {
				log.Warn("socket settings changed; they take effect only on restart", "listen", file.listen, "socket_mode", file.mode, "socket_group", file.group, "in_use", running.Listen)
			}
			if fileMetrics != at.metrics {
				log.Warn("metrics settings changed; they take effect only on restart", "metrics_listen", fileMetrics, "in_use", at.metrics)
			}
			if fileConsole != at.console {
				log.Warn("console settings changed; they take effect only on restart", "console_listen", fileConsole, "in_use", at.console)
			}
			// Clients only the configuration before the old one used go;
			// messages under way on the old one keep theirs.
			if err := env.Prune(cfg, old.Config()); err != nil {
				log.Warn("closing unused clients", "error", err)
			}
			return
		}
	}
	env.Metrics.Reload(false)
	log.Error("configuration reload failed; the previous configuration stays in force", "error", err, "reload_successful", false)
}

// startProfile writes a CPU profile to path until the returned function is
// called.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func name(c *policy.Config) string {
	if c.File == "" {
		return "(default)"
	}
	return c.File
}
