package app

import (
	"context"
	"errors"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// explain words a service error for people, keeping it matchable with
// errors.Is. Errors caused by what the person sent also wrap ErrInvalidInput.
func explain(op string, err error) error {
	var in *inputError
	if errors.As(err, &in) {
		return err
	}
	var msg string
	bad := false
	switch {
	case errors.Is(err, errClosed):
		msg = op + ": fieldsync is shutting down"
	case errors.Is(err, context.DeadlineExceeded):
		msg = op + ": this took too long and was stopped; try again"
	case errors.Is(err, context.Canceled):
		msg = op + ": stopped before it finished"
	case errors.Is(err, agent.ErrNoConflict):
		msg = op + ": the record is not in conflict any more (it may have been resolved already)"
	case errors.Is(err, store.ErrStaleResolution):
		msg = op + ": the record changed while you were deciding; look at it again"
	case errors.Is(err, agent.ErrCannotMerge):
		msg, bad = op+": both edits changed the same fields, so they cannot be merged by themselves; choose field by field", true
	case errors.Is(err, schema.ErrUnknownCollection):
		msg, bad = op+": there is no such collection in the declarations", true
	case errors.Is(err, schema.ErrInvalidRecord), errors.Is(err, store.ErrInvalidChange):
		msg, bad = op+": "+err.Error(), true
	case errors.Is(err, store.ErrTooLarge):
		msg, bad = op+": too much data in one call; send fewer changes at a time", true
	case errors.Is(err, store.ErrNotFound):
		msg = op + ": not found"
	case errors.Is(err, ErrInvalidInput):
		msg = err.Error()
	default:
		msg = op + ": " + err.Error()
	}
	return &peopleError{msg: msg, err: err, bad: bad}
}

// peopleError carries text for people over the error it explains.
type peopleError struct {
	msg string
	err error
	bad bool // the person's input caused it
}

func (e *peopleError) Error() string { return e.msg }

func (e *peopleError) Unwrap() []error {
	if e.bad {
		return []error{e.err, ErrInvalidInput}
	}
	return []error{e.err}
}
