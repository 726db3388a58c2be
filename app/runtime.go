package app

import (
	"context"

	wailsruntime "github.com/wailsapp/wails/v2/pkg/runtime"
)

// Runtime is what App needs of the Wails runtime. Wails' own functions take
// the context handed to OnStartup and call log.Fatalf with any other context,
// so App reaches them only through this interface and tests use a fake.
type Runtime interface {
	// EventsEmit sends an event to the frontend.
	EventsEmit(name string, data ...any)
	// WindowShow shows the window.
	WindowShow()
	// WindowHide hides the window without quitting.
	WindowHide()
	// Quit closes the window and ends the Wails main loop.
	Quit()
}

// RuntimeFactory makes the Runtime for one run of the window from the context
// Wails hands to OnStartup.
type RuntimeFactory func(wailsCtx context.Context) Runtime

// wailsRuntime forwards to Wails' runtime package. It keeps the context Wails
// gave to OnStartup because every Wails runtime function needs exactly that
// value as a handle to the running application; it is not used for
// cancellation.
type wailsRuntime struct {
	handle context.Context
}

var _ Runtime = (*wailsRuntime)(nil)

// NewWailsRuntime is the RuntimeFactory used by the desktop window.
func NewWailsRuntime(wailsCtx context.Context) Runtime {
	return &wailsRuntime{handle: wailsCtx}
}

func (r *wailsRuntime) EventsEmit(name string, data ...any) {
	wailsruntime.EventsEmit(r.handle, name, data...)
}

func (r *wailsRuntime) WindowShow() { wailsruntime.WindowShow(r.handle) }

func (r *wailsRuntime) WindowHide() { wailsruntime.WindowHide(r.handle) }

func (r *wailsRuntime) Quit() { wailsruntime.Quit(r.handle) }
