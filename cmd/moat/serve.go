package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/firstrun"
	"github.com/moatmq/moat/internal/server"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (YAML); defaults apply without one")
	var listen stringList
	fs.Var(&listen, "listen", "TCP listener address host:port (repeatable; replaces the file's listeners)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "", "log format: text or json")
	checkOnly := fs.Bool("check", false, "validate the configuration and exit")
	dataDir := fs.String("data-dir", "moat-data", "without --config: the data directory prepared on first start")
	tlsAddr := fs.String("tls-address", firstrun.DefaultTLSAddress, "without --config: the TLS listener address")
	plainAddr := fs.String("plain-address", firstrun.DefaultPlainAddress, "without --config: the plain listener address (loopback only)")
	anonymous := fs.Bool("allow-anonymous", false, "let clients connect without credentials (loopback listeners only, unless the configuration sets allow_insecure)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var base *config.Config
	if *cfgPath == "" && !*checkOnly {
		// Zero configuration: a secure first run in the data directory.
		var err error
		base, err = firstrun.Prepare(firstrun.Options{DataDir: *dataDir, TLSAddress: *tlsAddr, PlainAddress: *plainAddr}, os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "moat: first run: %v\n", err)
			return 1
		}
	}
	cfg, err := loadConfig(base, *cfgPath, listen, *logLevel, *logFormat)
	if err == nil && *anonymous {
		cfg.Auth.AllowAnonymous = true
		err = cfg.Validate()
	}
	if err == nil {
		// The critical checks of moat doctor: a critical finding that the
		// configuration does not acknowledge stops the start.
		err = doctor.CheckStart(cfg, *cfgPath, cfg.Acknowledge)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "moat: %v\n", err)
		return 1
	}
	if *checkOnly {
		fmt.Println("configuration OK")
		return 0
	}
	log, err := newLogger(os.Stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "moat: %v\n", err)
		return 1
	}
	server.Version = version
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "moat: %v\n", err)
		return 1
	}
	// Catch signals before the listeners open, so that a SIGTERM at any
	// moment after that shuts down gracefully.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := srv.Start(); err != nil {
		log.Error("start failed", "error", err)
		return 1
	}
	log.Info("moat started", "version", version)
	if *cfgPath != "" {
		srv.SetConfigReader(func() (*config.Config, error) {
			next, err := loadConfig(nil, *cfgPath, listen, *logLevel, *logFormat)
			if err == nil && *anonymous {
				next.Auth.AllowAnonymous = true
				err = next.Validate()
			}
			if err == nil {
				// A reload may not bring in what the start would refuse.
				err = doctor.CheckStart(next, *cfgPath, next.Acknowledge)
			}
			return next, err
		})
	}
	got := waitForStop(sig, srv, log)
	log.Info("shutting down", "signal", got.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// loadConfig reads the file (or the defaults) and applies flag overrides,
// then validates the result.
// base, when set, is the configuration of a zero-configuration start.
func loadConfig(base *config.Config, path string, listen []string, level, format string) (*config.Config, error) {
	cfg := config.Default()
	if base != nil {
		cfg = base
	}
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return nil, err
		}
	}
	if len(listen) > 0 {
		cfg.Listeners = nil
		for _, a := range listen {
			cfg.Listeners = append(cfg.Listeners, config.Listener{Address: a, Transport: "tcp"})
		}
	}
	if level != "" {
		cfg.Log.Level = level
	}
	if format != "" {
		cfg.Log.Format = format
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(w io.Writer, lc config.Log) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lc.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// waitForStop reloads on SIGHUP (server.ReloadAll: the configuration
// file again, then the files it names) and returns the signal that stops
// the broker.
func waitForStop(sig <-chan os.Signal, srv *server.Server, log *slog.Logger) os.Signal {
	for got := range sig {
		if got != syscall.SIGHUP {
			return got
		}
		if _, err := srv.ReloadAll(); err != nil {
			log.Error("reload failed; what did not load keeps its previous version", "error", err)
			continue
		}
		log.Info("reloaded", "what", "configuration (firewalls, connection limits), password file, tokens, bans, ACL policy, TLS material")
	}
	return nil
}
