package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/fieldsync/fieldsync/app"
)

// serveShutdown bounds the wait for calls in flight when serve stops.
const serveShutdown = 10 * time.Second

func runServe(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "serve")
	addr := fs.String("addr", "", "`address` to listen on, loopback only (default: the one of the last run, else a free port on 127.0.0.1)")
	noAgent := fs.Bool("no-agent", false, "do not run the sync schedule (\"Sync now\" still syncs)")
	newKey := fs.Bool("new-key", false, "replace the remembered API key and session: pages opened before must be opened again at the new address")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, env, g, func(p *process) error {
		return serve(ctx, env, p, *addr, *noAgent, *newKey)
	})
}

// serve runs the browser transport over p's open service until ctx ends.
func serve(ctx context.Context, env Env, p *process, addr string, noAgent, newKey bool) error {
	log := p.log
	tightenPermissions(p.cfg.DataDir, log)
	state := serveStateFor(p.cfg.DataDir, newKey, log)
	listen := addr
	if listen == "" {
		listen = state.Addr
	}
	srv, err := app.StartBrowser(ctx, app.BrowserOptions{
		Service:      p.svc,
		Assets:       env.Assets,
		Addr:         listen,
		Fallback:     addr == "",
		APIKey:       state.APIKey,
		SessionToken: state.SessionToken,
		CSRFToken:    state.CSRFToken,
		Logger:       log,
		Version:      version,
		Done:         ctx.Done(),
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	p.svc.AddEvents(srv)
	rememberServe(state, srv.URL(), p.cfg.DataDir, log)
	// The first line of output is the address to open; scripts read it.
	fmt.Fprintln(env.Stdout, srv.URL())
	if u, err := url.Parse(srv.URL()); err == nil {
		log.Info("serving the UI", "addr", u.Host, "device", p.svc.Store().DeviceID(), "schedule", !noAgent)
	}
	if !noAgent {
		if err := p.svc.Start(ctx); err != nil {
			stopServer(srv, log)
			return fmt.Errorf("serve: %w", err)
		}
	}
	<-ctx.Done()
	log.Info("serve stopping", "reason", context.Cause(ctx))
	p.svc.Stop()
	stopServer(srv, log)
	return nil
}

// serveStateFor returns the address and secrets to serve with: those of
// the last run, with new secrets when asked for or when there were none.
func serveStateFor(dataDir string, newKey bool, log *slog.Logger) serveState {
	state, err := loadServeState(dataDir)
	if err != nil {
		log.Warn("serve: starting with a new key and address", "err", err)
	}
	if newKey {
		state = serveState{Addr: state.Addr}
	}
	return state.withSecrets()
}

// rememberServe keeps the address served and the secrets for the next run.
func rememberServe(state serveState, served, dataDir string, log *slog.Logger) {
	if u, err := url.Parse(served); err == nil {
		state.Addr = u.Host
	}
	if err := state.save(dataDir); err != nil {
		// Serving still works; only the next restart will need the new address.
		log.Warn("serve: could not remember the address and key for the next run", "err", err)
	}
}

func stopServer(srv *app.Browser, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), serveShutdown)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		log.Warn("bridge did not stop cleanly", "err", err)
	}
}

// tightenPermissions makes the data dir 0700 and serve.json 0600 when
// others may read them, logging each change: the file holds the key to the
// API, the dir the journal. Windows has no such mode bits.
func tightenPermissions(dataDir string, log *slog.Logger) {
	if runtime.GOOS == "windows" {
		return
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{dataDir, 0o700},
		{filepath.Join(dataDir, serveStateFile), 0o600},
	} {
		fi, err := os.Stat(f.path)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			log.Warn("serve: others may read this, and it cannot be tightened", "path", f.path, "mode", fi.Mode().Perm().String(), "err", err)
			continue
		}
		log.Warn("serve: others could read this; tightened its permissions", "path", f.path, "was", fi.Mode().Perm().String(), "now", f.mode.String())
	}
}
