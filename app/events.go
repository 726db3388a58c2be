package app

import "github.com/fieldsync/fieldsync/agent"

// Emitter sends events from Go code that knows nothing of windows, such as
// the agent, to the page of an App: the desktop window once Wails has started
// it, or whatever Window AttachWindow attached (the loopback bridge in
// `fieldsync serve`). Events sent while nothing is attached are dropped; the
// page catches up by mirror sequence when it starts.
//
// Emitter is not a method set of App on purpose: every exported method of App
// is callable from the page.
type Emitter struct {
	a *App
}

var _ agent.Events = (*Emitter)(nil)

// NewEmitter returns the Emitter for a's page.
func NewEmitter(a *App) *Emitter {
	return &Emitter{a: a}
}

// Emit sends payload as the one argument of the event name.
func (e *Emitter) Emit(name string, payload any) {
	e.a.emit(name, payload)
}

// AttachWindow attaches rt to a outside Wails, e.g. a Window over the
// loopback bridge in `fieldsync serve`; nil detaches. In the desktop window
// Wails' OnStartup attaches the runtime instead. It is a function, not a
// method, so that the page cannot call it.
func AttachWindow(a *App, rt Window) {
	a.mu.Lock()
	a.rt = rt
	a.mu.Unlock()
}
