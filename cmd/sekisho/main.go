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

	"github.com/sekisho/sekisho/milter"
	"github.com/sekisho/sekisho/policy"
	"github.com/sekisho/sekisho/policy/ratelimit"
)

// gcPercent is the garbage collector's target (GOGC) unless the GOGC
// environment variable sets one. go-milter allocates every packet afresh,
// about 1.2 times each message's size: at Go's default of 100 the
// collector runs every few messages and costs a quarter of the daemon's
// CPU. At 200 it runs half as often, and the peak memory for a 50 MB
// message still grows by less than 16 MiB.
const gcPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "scan" {
		return runScan(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("sekisho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file` (TOML); the built-in default when empty")
	check := fs.Bool("check", false, "validate the configuration, print every error and exit")
	printConfig := fs.Bool("print-config", false, "print the configuration in force (-config, or the built-in one) with every default filled in, and exit")
	listen := fs.String("listen", "", "listen `address` (inet:HOST:PORT or unix:/PATH), overriding the configuration")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file` until the daemon stops (go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return 2
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
	if *check {
		// The whole startup but the socket: the engine is built too.
		env := &policy.Env{Logger: slog.New(slog.DiscardHandler)}
		defer env.Close()
		if _, err := policy.NewEngine(cfg, env); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name(cfg), err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: OK\n", name(cfg))
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
	logs := newLogHandler(stderr, cfg.Log)
	log := slog.New(logs)
	slog.SetDefault(log)
	// go-milter logs its errors through the standard logger.
	stdlog.SetFlags(0)
	stdlog.SetOutput(milter.LibraryLog(log))
	ratelimit.SetLogger(log)
	env := &policy.Env{Logger: log}
	defer env.Close()
	engine, err := policy.NewEngine(cfg, env)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
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
	log.Info("listening", "listen", cfg.Listen, "config", name(cfg), "rules", engine.Rules(), "mode", cfg.Mode)

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
				reload(srv, *configPath, fileSocket, env, log, func(c policy.LogConfig) { logs.set(stderr, c) })
				continue
			}
			timeout := srv.Engine().Config().ShutdownTimeout.D()
			log.Info("shutting down", "signal", sig.String(), "timeout", timeout.String())
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil {
				log.Warn("connections still open at the shutdown timeout were closed", "error", err)
			}
			return 0
		}
	}
}

// socket is what of a configuration is fixed when the socket is opened.
type socket struct{ listen, mode, group string }

func socketOf(c *policy.Config) socket { return socket{c.Listen, c.SocketMode, c.SocketGroup} }

// reload reads the configuration again and swaps it in only if it is
// valid; otherwise the running one keeps serving. The socket (listen,
// socket_mode, socket_group) stays as it was opened, and a change to it
// is logged as needing a restart; the [log] table changes, through setLog.
func reload(srv *milter.Server, path string, opened socket, env *policy.Env, log *slog.Logger, setLog func(policy.LogConfig)) {
	cfg, err := policy.Load(path)
	if err == nil {
		file := socketOf(cfg)
		running := srv.Engine().Config()
		cfg.Listen, cfg.SocketMode, cfg.SocketGroup = running.Listen, running.SocketMode, running.SocketGroup
		var e *policy.Engine
		if e, err = policy.NewEngine(cfg, env); err == nil {
			old := srv.SetEngine(e)
			if cfg.Log != old.Config().Log {
				// Said under the settings that are going, which may show
				// more than the new ones.
				log.Info("log settings changed", "format", cfg.Log.Format, "level", cfg.Log.Level)
				setLog(cfg.Log)
			}
			log.Info("configuration reloaded", "config", name(cfg), "rules", e.Rules(), "mode", cfg.Mode, "reload_successful", true)
			if file != opened {
				log.Warn("socket settings changed; they take effect only on restart", "listen", file.listen, "socket_mode", file.mode, "socket_group", file.group, "in_use", running.Listen)
			}
			// Clients only the configuration before the old one used go;
			// messages under way on the old one keep theirs.
			if err := env.Prune(cfg, old.Config()); err != nil {
				log.Warn("closing unused clients", "error", err)
			}
			return
		}
	}
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
