package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/app/bridge"
)

// BrowserOptions configures StartBrowser.
type BrowserOptions struct {
	// Service answers the UI's calls. Required.
	Service Service
	// Assets is the built frontend with index.html at its root.
	Assets fs.FS
	// Addr is the loopback address to listen on; empty means a free port.
	Addr string
	// Fallback serves on a free port when Addr cannot be listened on (it is
	// a remembered address, not one a person asked for).
	Fallback bool
	// APIKey, SessionToken and CSRFToken are the bridge's secrets; empty
	// ones are made anew.
	APIKey, SessionToken, CSRFToken string
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
	// Version is what App.Version reports.
	Version string
	// Done ends the calls in flight when it closes (the process context's).
	Done <-chan struct{}
}

// Browser is the loopback browser transport: the App's and the UI's calls
// and the service's events over app/bridge, for `fieldsync serve`. It is an
// agent.Events sink: pass it to the service's AddEvents.
type Browser struct {
	srv *bridge.Server
	app *App
}

var _ agent.Events = (*Browser)(nil)

// StartBrowser serves the App and a UI over opts.Service on loopback until
// Stop or ctx ends.
func StartBrowser(ctx context.Context, opts BrowserOptions) (*Browser, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := New(Options{Logger: log.With("component", "app"), Version: opts.Version})
	ui, err := NewUI(UIOptions{Service: opts.Service, Logger: log.With("component", "ui"), Done: opts.Done})
	if err != nil {
		return nil, err
	}
	start := func(addr string) (*bridge.Server, error) {
		srv, err := bridge.New(bridge.Options{
			Bound:        []any{a, ui},
			Assets:       opts.Assets,
			Addr:         addr,
			APIKey:       opts.APIKey,
			SessionToken: opts.SessionToken,
			CSRFToken:    opts.CSRFToken,
			Logger:       log.With("component", "bridge"),
			ErrorStatus:  errorStatus,
		})
		if err != nil {
			return nil, err
		}
		return srv, srv.Start(ctx)
	}
	srv, err := start(opts.Addr)
	if err != nil && opts.Fallback && opts.Addr != "" {
		log.Warn("serve: the address of the last run is not available; serving on a new one. A page still open at the old "+
			"address keeps the records it has not handed over in that browser until fieldsync serves there again: "+
			"free the port and restart fieldsync serve, or pass --addr", "last", opts.Addr, "err", err)
		srv, err = start(bridge.DefaultAddr)
	}
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	AttachWindow(a, bridgeWindow{srv})
	return &Browser{srv: srv, app: a}, nil
}

// URL is the address to open, API key included.
func (b *Browser) URL() string { return b.srv.URL() }

// Emit sends an event to every page that listens.
func (b *Browser) Emit(name string, payload any) { b.srv.Emit(name, payload) }

// Stop stops serving, waiting for calls in flight until ctx ends.
func (b *Browser) Stop(ctx context.Context) error {
	AttachWindow(b.app, nil)
	return b.srv.Stop(ctx)
}

// bridgeWindow is the App's Window behind the bridge: events go to the
// bridge's event stream; there is no window to show, hide or quit.
type bridgeWindow struct{ *bridge.Server }

var _ Window = bridgeWindow{}

func (bridgeWindow) WindowShow() {}
func (bridgeWindow) WindowHide() {}
func (bridgeWindow) Quit()       {}

// errorStatus answers 400 for input the calls refused.
func errorStatus(err error) int {
	if errors.Is(err, ErrInvalidInput) {
		return http.StatusBadRequest
	}
	return 0
}
