package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The steps that store one change inside an Append, ApplyRemote or
// Resolve transaction: limits, admission, the journal, the version graph,
// the winner, the indexes, the counts and the conflict.

// applyChange stores one change in tx. Problems with the change itself come
// back as a Rejected result; an error means the transaction must abort. The
// returned version is the clock state after observing the change. tally
// caches the per-collection counts; the caller stores them before
// committing.
func (s *Store) applyChange(tx *bolt.Tx, tally map[string]*counts, c *Change, call applyCall) (ChangeResult, Version, error) {
	res := ChangeResult{ChangeID: c.ChangeID}
	reject := func(err error) (ChangeResult, Version, error) {
		return rejected(c.ChangeID, err), Version{}, nil
	}
	if !call.validated {
		if err := c.Validate(); err != nil {
			return reject(err)
		}
	}
	if err := checkLimits(c); err != nil {
		return reject(err)
	}
	if c.Resolution != nil && call.origin == Local && call.audit == nil {
		return reject(fmt.Errorf("%w %q: %w", ErrInvalidChange, c.ChangeID, errLocalResolution))
	}
	var prev changeRef
	if found, err := getJSON(bucket(tx, bChangeIDs), []byte(c.ChangeID), &prev); err != nil {
		return res, Version{}, err
	} else if found {
		res.Outcome, res.Seq, res.MSeq = Duplicate, prev.Seq, prev.MSeq
		return res, Version{}, nil
	}
	u, err := openUpdate(tx, c)
	if err != nil {
		return res, Version{}, err
	}
	if u.node.Change != nil {
		return reject(fmt.Errorf("%w: change %q has version %s of %s/%s, already used by change %q",
			ErrVersionTaken, c.ChangeID, c.Version, c.Collection, c.RecordID, u.node.Change.ChangeID))
	}
	if u.existed, err = getJSON(u.rb, []byte(c.RecordID), &u.before); err != nil {
		return res, Version{}, err
	}
	if err := u.admit(call.audit != nil); err != nil {
		return reject(err)
	}

	// From here on the change is accepted; every failure aborts the transaction.
	if err := s.accept(tx, tally, u, call, &res); err != nil {
		return res, Version{}, err
	}
	v, err := ParseVersion(c.Version)
	if err != nil {
		return res, Version{}, err // Validate checked it; unreachable
	}
	res.Outcome = Accepted
	return res, s.observe(v), nil
}

// rejected is the result of a change refused for err.
func rejected(changeID string, err error) ChangeResult {
	return ChangeResult{ChangeID: changeID, Outcome: Rejected, Err: err, Reason: err.Error()}
}

// checkLimits applies the store's own bounds to a valid change: they keep
// every key within bbolt's bounds and a version out of its own parents.
func checkLimits(c *Change) error {
	if len(c.Version) > maxVersionBytes {
		return fmt.Errorf("%w %q: version is longer than %d bytes", ErrInvalidChange, c.ChangeID, maxVersionBytes)
	}
	if len(c.Parents) > maxParents {
		return fmt.Errorf("%w %q: %d parents, more than %d", ErrInvalidChange, c.ChangeID, len(c.Parents), maxParents)
	}
	for _, p := range c.Parents {
		if len(p) > maxVersionBytes {
			return fmt.Errorf("%w %q: parent version is longer than %d bytes", ErrInvalidChange, c.ChangeID, maxVersionBytes)
		}
	}
	if slices.Contains(c.Parents, c.Version) {
		return fmt.Errorf("%w %q: version %s is also one of its parents", ErrInvalidChange, c.ChangeID, c.Version)
	}
	return nil
}

// recordUpdate carries one change through applyChange: what was read of its
// record (buckets, the change's own version node, the record's state) and
// what admit decided (parents and leaves).
type recordUpdate struct {
	c      *Change
	vb, rb *bolt.Bucket // the collection's version graph and records
	// node is the change's version node: empty, or a placeholder that
	// children which arrived first have made.
	node    versionNode
	existed bool
	before  recordState
	parents []string // c.Parents without repeats
	leaves  []string // the record's leaves once the change is in, unsorted
}

// openUpdate opens the buckets of c's collection and reads c's version node.
func openUpdate(tx *bolt.Tx, c *Change) (*recordUpdate, error) {
	u := &recordUpdate{c: c}
	var err error
	if u.vb, err = sub(tx, bVersions, c.Collection); err != nil {
		return nil, err
	}
	if u.rb, err = sub(tx, bRecords, c.Collection); err != nil {
		return nil, err
	}
	if _, err := getNode(u.vb, versionKey(c.RecordID, c.Version), &u.node); err != nil {
		return nil, err
	}
	return u, nil
}

// admit works out the record's leaves with the change in, or why the change
// cannot go in: a resolution that does not name every leaf as a parent, or
// parents that make a cycle.
func (u *recordUpdate) admit(resolution bool) error {
	c := u.c
	if resolution {
		for _, leaf := range u.before.Leaves {
			if !slices.Contains(c.Parents, leaf) {
				return fmt.Errorf("%w: %s/%s has leaf %s that change %q does not name as a parent",
					ErrStaleResolution, c.Collection, c.RecordID, leaf, c.ChangeID)
			}
		}
	}
	for _, p := range c.Parents {
		if !slices.Contains(u.parents, p) {
			u.parents = append(u.parents, p)
		}
	}
	u.leaves = make([]string, 0, len(u.before.Leaves)+1)
	for _, l := range u.before.Leaves {
		if !slices.Contains(u.parents, l) {
			u.leaves = append(u.leaves, l)
		}
	}
	if len(u.node.Children) == 0 {
		u.leaves = append(u.leaves, c.Version)
	}
	if len(u.leaves) == 0 {
		// Only a cycle in the parents (a change descending from its own
		// descendant) can leave a record without a leaf.
		return fmt.Errorf("%w %q: its parents make a cycle in the history of %s/%s",
			ErrInvalidChange, c.ChangeID, c.Collection, c.RecordID)
	}
	return nil
}

// accept writes an admitted change: its journal entry (a local change), its
// place in the version graph, the record's new state with its conflict
// entry and counts, and the change-id and mirror index entries. It fills in
// res's sequences and Conflicted.
func (s *Store) accept(tx *bolt.Tx, tally map[string]*counts, u *recordUpdate, call applyCall, res *ChangeResult) error {
	c := u.c
	var err error
	if call.origin == Local {
		if res.Seq, err = addToJournal(tx, c); err != nil {
			return err
		}
	}
	if res.MSeq, err = bucket(tx, bMirror).NextSequence(); err != nil {
		return err
	}
	if err := u.link(res.Seq, res.MSeq); err != nil {
		return err
	}
	st, err := u.after()
	if err != nil {
		return err
	}
	st.MSeq = res.MSeq
	if call.origin == Local {
		st.LastSeq = res.Seq
	}
	// MarshalJSON's output, stored as is: json.Marshal would scan and
	// compact it again (5 % of an import's CPU in BenchmarkServiceAccept).
	raw, err := st.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode record %q: %w", c.RecordID, err)
	}
	if err := u.rb.Put([]byte(c.RecordID), raw); err != nil {
		return err
	}
	res.Conflicted = len(st.Leaves) > 1
	if len(u.before.Leaves) > 1 || res.Conflicted { // else there is no entry to touch
		if err := s.updateConflict(tx, u.vb, c.Collection, c.RecordID, st); err != nil {
			return err
		}
	}
	if err := updateCounts(tx, tally, c.Collection, u.existed, u.before, st); err != nil {
		return err
	}
	return indexChange(tx, c, *res, call, st)
}

// addToJournal adds a local change to the push journal and returns its seq.
func addToJournal(tx *bolt.Tx, c *Change) (uint64, error) {
	jb := bucket(tx, bJournal)
	seq, err := jb.NextSequence()
	if err != nil {
		return 0, err
	}
	ref := changeRef{Collection: c.Collection, RecordID: c.RecordID, Version: c.Version, ChangeID: c.ChangeID}
	return seq, putJSON(jb, utob(seq), ref)
}

// link stores the change in its version node and names it a child of each
// of its parents (a parent that has not arrived gets a placeholder node).
func (u *recordUpdate) link(seq, mseq uint64) error {
	c := u.c
	cc := cloneChange(*c)
	node := u.node
	node.Change, node.Seq, node.MSeq = &cc, seq, mseq
	if err := putNode(u.vb, versionKey(c.RecordID, c.Version), node); err != nil {
		return err
	}
	for _, p := range u.parents {
		var pn versionNode
		if _, err := getNode(u.vb, versionKey(c.RecordID, p), &pn); err != nil {
			return err
		}
		if !slices.Contains(pn.Children, c.Version) {
			pn.Children = append(pn.Children, c.Version)
			if err := putNode(u.vb, versionKey(c.RecordID, p), pn); err != nil {
				return err
			}
		}
	}
	return nil
}

// after returns the record's state with the change in: its sorted leaves and,
// when the highest leaf changed, the new winner's fields. The sequences are
// the caller's to set.
func (u *recordUpdate) after() (recordState, error) {
	c := u.c
	st := u.before
	slices.Sort(u.leaves)
	st.Leaves = u.leaves
	winner := u.leaves[len(u.leaves)-1]
	if winner == st.Version {
		return st, nil
	}
	w := c
	if winner != c.Version {
		var wn versionNode
		if _, err := getNode(u.vb, versionKey(c.RecordID, winner), &wn); err != nil {
			return st, err
		}
		if wn.Change == nil {
			return st, fmt.Errorf("record %s/%s: leaf %s has no change", c.Collection, c.RecordID, winner)
		}
		w = wn.Change
	}
	st.Version, st.ChangeID, st.Deleted = w.Version, w.ChangeID, w.Op == OpDelete
	st.Device, st.Author, st.EditedAt = w.Device, w.Author, w.EditedAt
	return st, nil
}

// indexChange records a stored change in v1/changeids (what makes Append
// idempotent) and v1/mirror (what MirrorSince feeds the UI from), with the
// record's state st after it.
func indexChange(tx *bolt.Tx, c *Change, res ChangeResult, call applyCall, st recordState) error {
	ref := changeRef{Collection: c.Collection, RecordID: c.RecordID, Version: c.Version, Seq: res.Seq, MSeq: res.MSeq}
	if err := putJSON(bucket(tx, bChangeIDs), []byte(c.ChangeID), ref); err != nil {
		return err
	}
	ref.Seq, ref.MSeq = 0, 0
	ref.ChangeID, ref.Origin, ref.Batch = c.ChangeID, call.origin, call.batch
	ref.Winner, ref.Deleted, ref.Conflicted = st.Version, st.Deleted, res.Conflicted
	return putJSON(bucket(tx, bMirror), utob(res.MSeq), ref)
}

// updateCounts adjusts the per-collection tallies in tally (loaded from
// v1/counts on first use) for one record's change from before to after.
func updateCounts(tx *bolt.Tx, tally map[string]*counts, collection string, existed bool, before, after recordState) error {
	c := tally[collection]
	if c == nil {
		c = &counts{}
		if _, err := getJSON(bucket(tx, bCounts), []byte(collection), c); err != nil {
			return err
		}
		tally[collection] = c
	}
	if existed {
		if before.Deleted {
			c.Deleted--
		} else {
			c.Live--
		}
	}
	if after.Deleted {
		c.Deleted++
	} else {
		c.Live++
	}
	return nil
}

// updateConflict creates, refreshes or removes the record's conflict entry
// to match its leaves.
func (s *Store) updateConflict(tx *bolt.Tx, vb *bolt.Bucket, collection, recordID string, st recordState) error {
	cb, err := sub(tx, bConflicts, collection)
	if err != nil {
		return err
	}
	var cf Conflict
	existed, err := getJSON(cb, []byte(recordID), &cf)
	if err != nil {
		return err
	}
	if len(st.Leaves) < 2 {
		if existed {
			return cb.Delete([]byte(recordID))
		}
		return nil
	}
	now := s.nowMS()
	if !existed {
		cf = Conflict{Collection: collection, RecordID: recordID, DetectedAt: now}
	}
	cf.UpdatedAt, cf.Winner, cf.Leaves, cf.Ancestor, cf.Missing = now, st.Version, nil, nil, nil
	for _, l := range st.Leaves {
		var n versionNode
		if _, err := getNode(vb, versionKey(recordID, l), &n); err != nil {
			return err
		}
		if n.Change == nil {
			return fmt.Errorf("record %s/%s: leaf %s has no change", collection, recordID, l)
		}
		cf.Leaves = append(cf.Leaves, *n.Change)
		for _, p := range n.Change.Parents {
			var pn versionNode
			if _, err := getNode(vb, versionKey(recordID, p), &pn); err != nil {
				return err
			}
			if pn.Change == nil && !slices.Contains(cf.Missing, p) {
				cf.Missing = append(cf.Missing, p)
			}
		}
	}
	slices.Sort(cf.Missing)
	anc, err := commonAncestor(vb, recordID, st.Leaves)
	if err != nil {
		return err
	}
	cf.Ancestor = anc
	return putJSON(cb, []byte(recordID), cf)
}

// maxAncestorWalk bounds the version-graph walk that looks for a common
// ancestor, so a record with a very long history cannot stall a write.
const maxAncestorWalk = 10000

// commonAncestor returns the newest version that is an ancestor of (or
// equal to) every leaf and whose change is stored, or nil.
func commonAncestor(vb *bolt.Bucket, recordID string, leaves []string) (*Change, error) {
	var common map[string]*Change
	budget := maxAncestorWalk
	for _, leaf := range leaves {
		seen := map[string]*Change{}
		queue := []string{leaf}
		for len(queue) > 0 && budget > 0 {
			v := queue[0]
			queue = queue[1:]
			if _, ok := seen[v]; ok {
				continue
			}
			budget--
			var n versionNode
			if _, err := getNode(vb, versionKey(recordID, v), &n); err != nil {
				return nil, err
			}
			if n.Change == nil {
				continue // not arrived (yet): the walk stops here
			}
			seen[v] = n.Change
			queue = append(queue, n.Change.Parents...)
		}
		if common == nil {
			common = seen
			continue
		}
		for v := range common {
			if _, ok := seen[v]; !ok {
				delete(common, v)
			}
		}
	}
	var best *Change
	for v, c := range common {
		if best == nil || v > best.Version {
			best = c
		}
	}
	return best, nil
}

// cloneChange returns a deep copy of c, so stored and returned changes never
// share memory with the caller's or bbolt's.
func cloneChange(c Change) Change {
	c.Doc = slices.Clone(c.Doc)
	c.Parents = slices.Clone(c.Parents)
	return c
}
