package cli

import (
	"context"
	"errors"
	"fmt"
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

// bridgeRuntime is the App's Runtime in serve mode: events go to the
// bridge's event stream; there is no window to show, hide or quit.
type bridgeRuntime struct{ *bridge.Server }

var _ app.Runtime = bridgeRuntime{}

func (bridgeRuntime) WindowShow() {}
func (bridgeRuntime) WindowHide() {}
func (bridgeRuntime) Quit()       {}

// errorStatus answers 400 for input the bindings refused.
func errorStatus(err error) int {
	if errors.Is(err, app.ErrInvalidInput) {
		return http.StatusBadRequest
	}
	return 0
}

func runServe(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "serve")
	addr := fs.String("addr", bridge.DefaultAddr, "`address` to listen on (loopback only)")
	noAgent := fs.Bool("no-agent", false, "do not run the sync schedule (\"Sync now\" still syncs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	rt, err := openRuntime(ctx, env, g)
	if err != nil {
		return err
	}
	defer rt.Close()
	b, err := NewBackend(ctx, rt)
	if err != nil {
		return err
	}
	log := rt.Logger
	a := app.New(app.Options{Logger: log.With("component", "app"), Version: version})
	ui, err := app.NewUI(app.UIOptions{Backend: b, Logger: log.With("component", "ui"), Done: ctx.Done()})
	if err != nil {
		return err
	}
	srv, err := bridge.New(bridge.Options{
		Bound:       []any{a, ui},
		Assets:      env.Assets,
		Addr:        *addr,
		Logger:      log.With("component", "bridge"),
		ErrorStatus: errorStatus,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	app.AttachRuntime(a, bridgeRuntime{srv})
	b.AddEvents(srv)
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// The first line of output is the address to open; scripts read it.
	fmt.Fprintln(env.Stdout, srv.URL())
	if u, err := url.Parse(srv.URL()); err == nil {
		log.Info("serving the UI", "addr", u.Host, "device", rt.Store.DeviceID(), "schedule", !*noAgent)
	}
	if !*noAgent {
		if err := b.Start(ctx); err != nil {
			stopServer(srv, log)
			return fmt.Errorf("serve: %w", err)
		}
	}
	<-ctx.Done()
	log.Info("serve stopping", "reason", context.Cause(ctx))
	app.AttachRuntime(a, nil)
	b.Stop()
	stopServer(srv, log)
	return nil
}

func stopServer(srv *bridge.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), serveShutdown)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		log.Warn("bridge did not stop cleanly", "err", err)
	}
}
