package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// holdCommit holds bbolt's write lock in a transaction of its own until
// the returned release is called, so the next local append to commit waits
// in its commit and the callers after it queue for the next group.
func holdCommit(t *testing.T, s *Store) (release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.db.Update(func(*bolt.Tx) error {
			close(in)
			<-out
			return nil
		})
	}()
	<-in
	return func() {
		close(out)
		if err := <-done; err != nil {
			t.Errorf("held transaction: %v", err)
		}
	}
}

// waitQueued waits until a caller commits and n callers wait in the
// store's append queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.group.mu.Lock()
		got, busy := len(s.group.queue), s.group.busy
		s.group.mu.Unlock()
		if got == n && busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers queued (a commit running: %v), want %d and a commit", got, busy, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// txID returns the id of the store's last committed write transaction.
func txID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// groupCall is one caller of a group commit test and what it got.
type groupCall struct {
	ctx     context.Context
	changes []Change
	res     AppendResult
	err     error
	done    chan struct{}
}

// startGroup starts a leader, whose commit waits for a held transaction,
// then each of calls in turn, each queued before the next starts, and
// releases the held transaction once all wait. It returns when every call
// has returned, with the number of write transactions committed after the
// held one.
func startGroup(t *testing.T, s *Store, leader *groupCall, calls []*groupCall, check func(Change) error) (commits int) {
	t.Helper()
	release := holdCommit(t, s)
	before := txID(t, s) // the held transaction is not committed yet
	run := func(c *groupCall) {
		c.done = make(chan struct{})
		if c.ctx == nil {
			c.ctx = context.Background()
		}
		go func() {
			defer close(c.done)
			c.res, c.err = s.AppendChecked(c.ctx, c.changes, check)
		}()
	}
	run(leader)
	waitQueued(t, s, 0) // the leader took itself out of the queue to commit
	for i, c := range calls {
		run(c)
		waitQueued(t, s, i+1)
	}
	release()
	<-leader.done
	for _, c := range calls {
		<-c.done
	}
	return txID(t, s) - before - 1
}

// outcomes lists the outcomes of res in order.
func outcomes(res AppendResult) []Outcome {
	var out []Outcome
	for _, r := range res.Results {
		out = append(out, r.Outcome)
	}
	return out
}

func TestGroupCommitGivesEachCallerItsOwnResults(t *testing.T) {
	t.Parallel()
	errBad := errors.New("not declared")
	check := func(c Change) error {
		if c.RecordID == "bad" {
			return errBad
		}
		return nil
	}
	invalid := put("b-bad", "rb", ver(2000, "dev1"), `{}`)
	invalid.Device = ""
	shared := put("dup", "rdup", ver(5000, "dev1"), `{"n":1}`)
	tests := []struct {
		name    string
		changes []Change
		want    []Outcome
	}{
		{"valid, invalid, valid", []Change{put("b-1", "rb1", ver(2001, "dev1"), `{}`), invalid, put("b-2", "rb2", ver(2002, "dev1"), `{}`)},
			[]Outcome{Accepted, Rejected, Accepted}},
		{"check fails, then a change another caller also sends", []Change{put("c-1", "bad", ver(3000, "dev1"), `{}`), shared},
			[]Outcome{Rejected, Accepted}},
		{"the same change again, then a new one", []Change{shared, put("d-1", "rd1", ver(4000, "dev1"), `{}`)},
			[]Outcome{Duplicate, Accepted}},
		{"only rejected changes", []Change{invalid}, []Outcome{Rejected}},
	}
	s := mustOpenStore(t)
	leader := &groupCall{changes: []Change{put("a-1", "ra", ver(1000, "dev1"), `{}`)}}
	var calls []*groupCall
	for _, tt := range tests {
		if tt.name != "only rejected changes" { // it never queues: nothing to commit
			calls = append(calls, &groupCall{changes: tt.changes})
		}
	}
	commits := startGroup(t, s, leader, calls, check)
	if commits != 2 {
		t.Errorf("%d commits for a leader and %d callers that waited, want 2 (the leader's, then the group's)", commits, len(calls))
	}
	if leader.err != nil || leader.res.Accepted != 1 {
		t.Fatalf("leader: %+v, %v", leader.res, leader.err)
	}
	for i, c := range calls {
		tt := tests[i]
		if c.err != nil {
			t.Fatalf("%s: %v", tt.name, c.err)
		}
		if got := outcomes(c.res); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: outcomes %v, want %v", tt.name, got, tt.want)
		}
		for j, r := range c.res.Results {
			if r.ChangeID != tt.changes[j].ChangeID {
				t.Errorf("%s: result %d is of %s, want %s", tt.name, j, r.ChangeID, tt.changes[j].ChangeID)
			}
		}
	}
	if r := calls[1].res.Results[0]; !errors.Is(r.Err, errBad) {
		t.Errorf("check failure reported as %v, want the check's error", r.Err)
	}
	if acc, dup := calls[1].res.Results[1], calls[2].res.Results[0]; dup.Seq != acc.Seq || dup.MSeq != acc.MSeq {
		t.Errorf("duplicate in the same group reports seq %d mseq %d, the accepted one %d %d", dup.Seq, dup.MSeq, acc.Seq, acc.MSeq)
	}
	// The journal holds the accepted changes once each, in arrival order.
	entries, err := s.Pending(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Change.ChangeID)
	}
	if want := "[a-1 b-1 b-2 dup d-1]"; fmt.Sprint(got) != want {
		t.Errorf("journal %v, want %s", got, want)
	}
	// The only-rejected call answers without a transaction.
	res, err := s.AppendChecked(context.Background(), tests[3].changes, check)
	if err != nil || fmt.Sprint(outcomes(res)) != fmt.Sprint(tests[3].want) {
		t.Errorf("only rejected changes: %+v, %v", res, err)
	}
}

func TestGroupCommitFailureFailsOnlyItsCallers(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	// A damaged version node makes the transaction that reads it fail.
	damaged := put("bad-1", "rdamaged", ver(2000, "dev1"), `{}`)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		vb, err := sub(tx, bVersions, "inspections")
		if err != nil {
			return err
		}
		return vb.Put(versionKey(damaged.RecordID, damaged.Version), []byte("\xffnot a node"))
	}); err != nil {
		t.Fatal(err)
	}
	leader := &groupCall{changes: []Change{seqChange("a", 1)}}
	bad := &groupCall{changes: []Change{damaged}}
	good := &groupCall{changes: []Change{seqChange("c", 2), seqChange("c", 3)}}
	if commits := startGroup(t, s, leader, []*groupCall{bad, good}, nil); commits != 1 {
		t.Errorf("%d commits, want 1: the leader's (the group's failed)", commits)
	}
	if leader.err != nil || leader.res.Accepted != 1 {
		t.Fatalf("leader, committed before the failed group: %+v, %v", leader.res, leader.err)
	}
	for _, c := range []*groupCall{bad, good} {
		if c.err == nil {
			t.Errorf("caller of %s in the failed group: no error, result %+v", c.changes[0].ChangeID, c.res)
		}
	}
	ctx := context.Background()
	for _, id := range []string{"c-2", "c-3"} {
		if ok, err := s.HasChange(ctx, id); err != nil || ok {
			t.Errorf("HasChange(%s) = %v, %v after a failed commit; want false", id, ok, err)
		}
	}
	// Nothing was acknowledged, so nothing is lost: sent again, alone, the
	// good caller's changes go in.
	if res, err := s.Append(ctx, good.changes); err != nil || res.Accepted != 2 {
		t.Errorf("sent again: %+v, %v", res, err)
	}
}

func TestGroupCommitLeavesOutACallerWhoseContextEnded(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	leader := &groupCall{changes: []Change{seqChange("a", 1)}}
	gone := &groupCall{ctx: ctx, changes: []Change{seqChange("b", 2)}}
	stays := &groupCall{changes: []Change{seqChange("c", 3)}}
	release := holdCommit(t, s)
	for _, c := range []*groupCall{leader, gone, stays} {
		c.done = make(chan struct{})
		if c.ctx == nil {
			c.ctx = context.Background()
		}
	}
	start := func(c *groupCall) {
		go func() {
			defer close(c.done)
			c.res, c.err = s.AppendChecked(c.ctx, c.changes, nil)
		}()
	}
	start(leader)
	waitQueued(t, s, 0)
	start(gone)
	waitQueued(t, s, 1)
	start(stays)
	waitQueued(t, s, 2)
	cancel()
	release()
	<-leader.done
	<-gone.done
	<-stays.done
	if !errors.Is(gone.err, context.Canceled) {
		t.Errorf("caller whose context ended while it waited: %+v, %v; want context.Canceled", gone.res, gone.err)
	}
	if ok, err := s.HasChange(context.Background(), "b-2"); err != nil || ok {
		t.Errorf("HasChange(b-2) = %v, %v; want false", ok, err)
	}
	for _, c := range []*groupCall{leader, stays} {
		if c.err != nil || c.res.Accepted != 1 {
			t.Errorf("caller of %s: %+v, %v", c.changes[0].ChangeID, c.res, c.err)
		}
	}
}

// TestGroupCommitManyCallers runs writers at once (run it with -race), each
// sending its own new changes and changes other writers send too, and
// checks that every change id is accepted exactly once in all the results,
// every result is its caller's, and the journal holds each once.
func TestGroupCommitManyCallers(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx := context.Background()
	const writers, rounds = 6, 30
	var (
		mu       sync.Mutex
		accepted = map[string]int{}
		acked    = map[string]bool{}
	)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range rounds {
				batch := make([]Change, 1+rng.IntN(20))
				for i := range batch {
					if rng.IntN(3) == 0 { // shared with the other writers
						n := rng.IntN(40)
						batch[i] = put(fmt.Sprintf("shared-%d", n), fmt.Sprintf("rs%d", n), ver(int64(100+n), "dev1"), `{}`)
						continue
					}
					n := (w*rounds+r)*100 + i
					batch[i] = put(fmt.Sprintf("w%d-%d", w, n), fmt.Sprintf("rw%d", n), ver(int64(10_000+n), "dev1"), `{}`)
				}
				res, err := s.AppendChecked(ctx, batch, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, cr := range res.Results {
					if cr.ChangeID != batch[i].ChangeID {
						t.Errorf("writer %d: result %d is of %s, want %s", w, i, cr.ChangeID, batch[i].ChangeID)
					}
					if cr.Outcome == Accepted {
						accepted[cr.ChangeID]++
					}
					acked[cr.ChangeID] = cr.Outcome != Rejected
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	entries, err := s.Pending(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	inJournal := map[string]int{}
	for _, e := range entries {
		inJournal[e.Change.ChangeID]++
	}
	for id, ok := range acked {
		if !ok {
			t.Errorf("%s rejected", id)
		}
		if accepted[id] != 1 || inJournal[id] != 1 {
			t.Errorf("%s accepted %d times, in the journal %d times; want once each", id, accepted[id], inJournal[id])
		}
	}
	if len(inJournal) != len(acked) {
		t.Errorf("journal holds %d changes, the writers got %d acknowledged", len(inJournal), len(acked))
	}
}
