package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/app"
	"github.com/fieldsync/fieldsync/app/bridge"
)

// serveShutdown bounds the wait for calls in flight when serve stops.
const serveShutdown = 10 * time.Second

var _ agent.Events = (*bridge.Server)(nil)

// bridgeWindow is the App's Window in serve mode: events go to the
// bridge's event stream; there is no window to show, hide or quit.
type bridgeWindow struct{ *bridge.Server }

var _ app.Window = bridgeWindow{}

func (bridgeWindow) WindowShow() {}
func (bridgeWindow) WindowHide() {}
func (bridgeWindow) Quit()       {}

// errorStatus answers 400 for input the bindings refused.
func errorStatus(err error) int {
	if errors.Is(err, app.ErrInvalidInput) {
		return http.StatusBadRequest
	}
	return 0
}

func runServe(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "serve")
	addr := fs.String("addr", "", "`address` to listen on, loopback only (default: the one of the last run, else a free port on 127.0.0.1)")
	noAgent := fs.Bool("no-agent", false, "do not run the sync schedule (\"Sync now\" still syncs)")
	newKey := fs.Bool("new-key", false, "replace the remembered API key and session: pages opened before must be opened again at the new address")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := openProcess(env, g)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.svc.Open(ctx); err != nil {
		return err
	}
	log := p.log
	state := serveStateFor(p.cfg.DataDir, *newKey, log)
	srv, a, err := startBrowserTransport(ctx, p, env.Assets, state, *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	rememberServe(state, srv.URL(), p.cfg.DataDir, log)
	// The first line of output is the address to open; scripts read it.
	fmt.Fprintln(env.Stdout, srv.URL())
	if u, err := url.Parse(srv.URL()); err == nil {
		log.Info("serving the UI", "addr", u.Host, "device", p.svc.Store().DeviceID(), "schedule", !*noAgent)
	}
	if !*noAgent {
		if err := p.svc.Start(ctx); err != nil {
			stopServer(srv, log)
			return fmt.Errorf("serve: %w", err)
		}
	}
	<-ctx.Done()
	log.Info("serve stopping", "reason", context.Cause(ctx))
	app.AttachWindow(a, nil)
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

// startBrowserTransport serves the App and the UI over the loopback bridge
// on addr, else on the address of the last run, else (when that one is
// taken) on a free port, and sends the service's events to the page.
func startBrowserTransport(ctx context.Context, p *process, assets fs.FS, state serveState, addr string) (*bridge.Server, *app.App, error) {
	log := p.log
	a := app.New(app.Options{Logger: log.With("component", "app"), Version: version})
	ui, err := app.NewUI(app.UIOptions{Service: p.svc, Logger: log.With("component", "ui"), Done: ctx.Done()})
	if err != nil {
		return nil, nil, err
	}
	start := func(listen string) (*bridge.Server, error) {
		srv, err := bridge.New(bridge.Options{
			Bound:        []any{a, ui},
			Assets:       assets,
			Addr:         listen,
			APIKey:       state.APIKey,
			SessionToken: state.SessionToken,
			CSRFToken:    state.CSRFToken,
			Logger:       log.With("component", "bridge"),
			ErrorStatus:  errorStatus,
		})
		if err != nil {
			return nil, err
		}
		return srv, srv.Start(ctx)
	}
	listen, remembered := addr, false
	if listen == "" && state.Addr != "" {
		listen, remembered = state.Addr, true
	}
	srv, err := start(listen)
	if err != nil && remembered {
		log.Warn("serve: the address of the last run is not available; serving on a new one. A page still open at the old "+
			"address keeps the records it has not handed over in that browser until fieldsync serves there again: "+
			"free the port and restart fieldsync serve, or pass --addr", "last", listen, "err", err)
		srv, err = start(bridge.DefaultAddr)
	}
	if err != nil {
		return nil, nil, err
	}
	app.AttachWindow(a, bridgeWindow{srv})
	p.svc.AddEvents(srv)
	return srv, a, nil
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

func stopServer(srv *bridge.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), serveShutdown)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		log.Warn("bridge did not stop cleanly", "err", err)
	}
}
