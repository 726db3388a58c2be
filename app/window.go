package app

import (
	"context"

	wailsruntime "github.com/wailsapp/wails/v2/pkg/runtime"
)

// Window is what App needs of the Wails runtime. Wails' own functions take
// the context handed to OnStartup and call log.Fatalf with any other context,
// so App reaches them only through this interface and tests use a fake.
type Window interface {
	// EventsEmit sends an event to the frontend.
	EventsEmit(name string, data ...any)
	// WindowShow shows the window.
	WindowShow()
	// WindowHide hides the window without quitting.
	WindowHide()
	// Quit closes the window and ends the Wails main loop.
	Quit()
}

// WindowFactory makes the Window for one run of the window from the context
// Wails hands to OnStartup.
type WindowFactory func(wailsCtx context.Context) Window

// wailsWindow forwards to Wails' runtime package. It keeps the context Wails
// gave to OnStartup because every Wails runtime function needs exactly that
// value as a handle to the running application; it is not used for
// cancellation.
type wailsWindow struct {
	handle context.Context
}

var _ Window = (*wailsWindow)(nil)

// NewWailsWindow is the WindowFactory used by the desktop window.
func NewWailsWindow(wailsCtx context.Context) Window {
	return &wailsWindow{handle: wailsCtx}
}

func (r *wailsWindow) EventsEmit(name string, data ...any) {
	wailsruntime.EventsEmit(r.handle, name, data...)
}

func (r *wailsWindow) WindowShow() { wailsruntime.WindowShow(r.handle) }

func (r *wailsWindow) WindowHide() { wailsruntime.WindowHide(r.handle) }

func (r *wailsWindow) Quit() { wailsruntime.Quit(r.handle) }
