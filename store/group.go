package store

import (
	"context"
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// errNotCommitted is the error of a caller whose group's commit never
// reported (it panicked): nothing of it is known to be stored.
var errNotCommitted = errors.New("the commit did not finish")

// appendGroup gathers the local appends (Append, AppendChecked) that arrive
// while one commits, so that they share the next commit: one transaction,
// one pair of fsyncs, for all of them. A caller that finds nothing
// committing commits at once, without waiting for company; so a lone edit
// pays no delay. There is no leader goroutine: the caller whose commit ends
// hands the lead to the first caller waiting, which commits the group of
// everyone waiting then (in arrival order, up to MaxAppendBytes of
// documents).
type appendGroup struct {
	mu    sync.Mutex
	busy  bool           // a caller is committing a group
	queue []*localAppend // waiting, in arrival order
}

// localAppend is one caller's changes (all passed Validate and the caller's
// check) on their way through a group commit.
type localAppend struct {
	ctx     context.Context
	changes []Change
	bytes   int
	// Set by the committing caller before it wakes this one.
	res  AppendResult
	err  error
	lead bool          // woken to commit the next group, not with a result
	wake chan struct{} // one send: a result or the lead
}

// appendGrouped stores changes, each validated already, in a group commit
// and returns their results in order.
func (s *Store) appendGrouped(ctx context.Context, changes []Change) (AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return AppendResult{}, err
	}
	if err := checkSize(changes); err != nil {
		return AppendResult{}, err
	}
	me := &localAppend{ctx: ctx, changes: changes, bytes: docBytes(changes), wake: make(chan struct{}, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, me)
	if g.busy {
		g.mu.Unlock()
		<-me.wake
		if !me.lead {
			return me.res, me.err
		}
		g.mu.Lock()
	}
	// Leading: me is first in the queue (only a leader takes from it, and
	// a new leader is the first waiting).
	g.busy = true
	group := g.take()
	g.mu.Unlock()
	defer s.handOff(group, me)
	s.commitGroup(group)
	return me.res, me.err
}

// take removes the next group from the queue: the first caller, and those
// after it while their documents stay within MaxAppendBytes. g.mu is held.
func (g *appendGroup) take() []*localAppend {
	n, total := 1, g.queue[0].bytes
	for n < len(g.queue) && total+g.queue[n].bytes <= MaxAppendBytes {
		total += g.queue[n].bytes
		n++
	}
	group := g.queue[:n:n]
	g.queue = append([]*localAppend(nil), g.queue[n:]...)
	return group
}

// handOff wakes the callers of a committed group with their results and
// gives the lead to the first caller waiting, if any.
func (s *Store) handOff(group []*localAppend, leader *localAppend) {
	g := &s.group
	g.mu.Lock()
	var next *localAppend
	if len(g.queue) > 0 {
		next = g.queue[0]
		next.lead = true
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	for _, a := range group {
		if a != leader {
			a.wake <- struct{}{}
		}
	}
	if next != nil {
		next.wake <- struct{}{}
	}
}

// commitGroup stores the changes of every caller in group in one write
// transaction, each caller's in its order, and sets each caller's result
// or error. A caller whose context has ended is left out with its error;
// when the transaction fails, every caller in it gets the error.
func (s *Store) commitGroup(group []*localAppend) {
	in := make([]*localAppend, 0, len(group))
	for _, a := range group {
		a.err = a.ctx.Err()
		if a.err == nil {
			in = append(in, a)
		}
	}
	if len(in) == 0 {
		return
	}
	for _, a := range in {
		a.err = errNotCommitted // until the commit says otherwise
	}
	results := make([]AppendResult, len(in))
	// No one caller's context may end the group's commit: each was
	// checked just above.
	ctx := context.WithoutCancel(in[0].ctx)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		w := writeTx{tx: tx, tally: map[string]*counts{}}
		for i, a := range in {
			var err error
			if results[i], err = s.applyAll(&w, a.changes, applyCall{origin: Local, validated: true}); err != nil {
				return err
			}
		}
		return w.finish()
	})
	for i, a := range in {
		if err != nil {
			a.err = err
			continue
		}
		a.res, a.err = results[i], nil
	}
}
