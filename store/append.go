package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// recordState is the stored form of a record in v1/records/<collection>.
// The winner's doc lives in its version node, not here.
type recordState struct {
	Version  string   `json:"version"`
	ChangeID string   `json:"change_id"`
	Deleted  bool     `json:"deleted"`
	Device   string   `json:"device"`
	Author   string   `json:"author,omitempty"`
	EditedAt int64    `json:"edited_at"`
	Leaves   []string `json:"leaves,omitempty"`
	MSeq     uint64   `json:"mseq"`
	LastSeq  uint64   `json:"last_seq,omitempty"`
}

func decodeRecord(v []byte, r *recordState) error { return json.Unmarshal(v, r) }

// recordStateJSON is recordState's stored field set.
type recordStateJSON recordState

// MarshalJSON leaves out the leaves of a record whose only leaf is its
// winner (nearly every record): they would repeat the version (schema 6).
func (r recordState) MarshalJSON() ([]byte, error) {
	j := recordStateJSON(r)
	if len(j.Leaves) == 1 && j.Leaves[0] == j.Version {
		j.Leaves = nil
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads both forms: without leaves, the winner is the one leaf.
func (r *recordState) UnmarshalJSON(b []byte) error {
	var j recordStateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.Leaves) == 0 && j.Version != "" {
		j.Leaves = []string{j.Version}
	}
	*r = recordState(j)
	return nil
}

// versionNode is one node of a record's version graph in
// v1/versions/<collection>. A node whose Change is nil is a placeholder for
// a parent that has not arrived yet; it only remembers its children.
type versionNode struct {
	Change   *Change  `json:"change,omitempty"`
	Children []string `json:"children,omitempty"`
	Seq      uint64   `json:"seq,omitempty"`
	MSeq     uint64   `json:"mseq,omitempty"`
}

// changeRef points at a stored change: the value of v1/changeids, v1/journal
// and v1/mirror entries.
type changeRef struct {
	Collection string `json:"c"`
	RecordID   string `json:"r"`
	Version    string `json:"v"`
	ChangeID   string `json:"id,omitempty"`
	Seq        uint64 `json:"seq,omitempty"`
	MSeq       uint64 `json:"mseq,omitempty"`
	// Journal entries: the batch the entry is planned into.
	Batch string `json:"b,omitempty"`
	// Mirror entries: origin, pulled batch and the record's state after.
	Origin     Origin `json:"o,omitempty"`
	Winner     string `json:"w,omitempty"`
	Deleted    bool   `json:"d,omitempty"`
	Conflicted bool   `json:"x,omitempty"`
}

// Append validates changes made on this device and stores the valid new
// ones in one transaction: each goes into the push journal, the record
// mirror, the version graph and the mirror index. It is idempotent by
// change id: a change stored before is reported as Duplicate and not stored
// again. A change that fails validation is reported as Rejected with its
// reason and does not stop the others.
//
// Local appends that arrive while another commits are committed together
// in the next transaction (a group commit: see AppendChecked).
//
// The returned error is non-nil only when nothing was stored (I/O failure,
// full disk, cancelled context); then no result is reported.
func (s *Store) Append(ctx context.Context, changes []Change) (AppendResult, error) {
	return s.AppendChecked(ctx, changes, nil)
}

// AppendChecked is Append with the caller's own rule for each change, such
// as its collection's declaration: every change gets Validate, then check,
// then the store's other rules, and a change that fails one is reported as
// Rejected with that first reason (check's error is its Err, as returned).
// So a caller with rules of its own validates each change once, here, and
// its reasons come after the structural ones. The changes that pass Validate
// and check are appended as by Append; when none does, nothing is written
// and no transaction is opened. Results keep the order of changes. check
// must not modify the change it is given; a nil check is no rule of the
// caller's.
//
// Group commit: a caller that finds no local append committing commits its
// changes at once, in a transaction of its own. Callers that arrive while
// one commits wait for it and are then committed together, in arrival
// order, in one transaction (one commit, one pair of fsyncs), each getting
// its own results; a change id that two of them carry is accepted for the
// first and a Duplicate for the second. A failed commit fails exactly the
// callers in it, none of whose changes is stored; a caller whose ctx ends
// while it waits gets ctx's error and is left out of the group.
func (s *Store) AppendChecked(ctx context.Context, changes []Change, check func(Change) error) (AppendResult, error) {
	results := make([]ChangeResult, len(changes))
	passed := make([]Change, 0, len(changes))
	at := make([]int, 0, len(changes)) // where each passed change is in changes
	for i, c := range changes {
		err := c.Validate()
		if err == nil && check != nil {
			err = check(c)
		}
		if err != nil {
			results[i] = rejected(c.ChangeID, err)
			continue
		}
		passed = append(passed, c)
		at = append(at, i)
	}
	if len(passed) > 0 {
		res, err := s.appendGrouped(ctx, passed)
		if err != nil {
			return AppendResult{}, fmt.Errorf("store: append %d changes: %w", len(passed), err)
		}
		for j, r := range res.Results {
			results[at[j]] = r
		}
	}
	out := AppendResult{Results: make([]ChangeResult, 0, len(results))}
	for _, r := range results {
		out.add(r)
	}
	return out, nil
}

// ApplyRemote stores changes pulled from Drill (made on other devices) from
// the named batch: like Append, but they do not enter the push journal. It is
// idempotent by change id, so re-applying a batch is harmless. A change that
// carries a Resolution also gets its audit entry (author, or device, as the
// actor; its edit time), in the same transaction, when it is accepted: so
// once per device, however often the batch is read.
func (s *Store) ApplyRemote(ctx context.Context, batch string, changes []Change) (AppendResult, error) {
	res, err := s.apply(ctx, changes, applyCall{origin: Remote, batch: batch})
	if err != nil {
		return AppendResult{}, fmt.Errorf("store: apply batch %s: %w", batch, err)
	}
	return res, nil
}

// Resolve appends a conflict resolution made on this device together with
// its audit entry, in one transaction. An entry without a detail gets the
// resolution's (Change.Resolution and the leaves). The resolution's parents must include
// every current leaf of the record, or it is rejected with
// ErrStaleResolution (the record changed since the conflict was read). The
// audit entry is written only when the resolution is accepted; its
// collection, record and change id are filled in from the change.
func (s *Store) Resolve(ctx context.Context, resolution Change, audit AuditEntry) (ChangeResult, error) {
	if audit.Actor == "" || audit.Action == "" {
		return ChangeResult{}, fmt.Errorf("store: resolve %s/%s: the audit entry needs an actor and an action", resolution.Collection, resolution.RecordID)
	}
	if len(audit.Detail) == 0 && resolution.Resolution != nil && resolution.Resolution.validate(len(resolution.Parents)) == nil {
		audit.Detail = resolutionDetail(&resolution)
	}
	res, err := s.apply(ctx, []Change{resolution}, applyCall{origin: Local, audit: &audit})
	if err != nil {
		return ChangeResult{}, fmt.Errorf("store: resolve %s/%s: %w", resolution.Collection, resolution.RecordID, err)
	}
	return res.Results[0], nil
}

// Limits that keep every key within bbolt's bounds and every write small.
const (
	maxVersionBytes = 256  // a version's text (15+1+4+1 + the device id)
	maxParents      = 1000 // parents of one change (a resolution names every leaf)
)

// MaxAppendBytes bounds the documents of one Append or ApplyRemote call (of
// AppendChecked: of the changes that pass its checks): one call is one
// transaction held in memory until it commits. Callers split larger sets (a
// batch of 1,000 typical records is well below it).
const MaxAppendBytes = 64 << 20

// applyCall says where the changes of one apply call come from and what is
// known of them already.
type applyCall struct {
	origin Origin
	batch  string // the pulled batch of remote changes
	// audit marks a resolution: leaves are checked and the audit entry
	// written with it.
	audit *AuditEntry
	// validated: every change passed Validate in this call (AppendChecked),
	// so it is not run again.
	validated bool
}

// apply runs one write transaction over changes.
func (s *Store) apply(ctx context.Context, changes []Change, call applyCall) (AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return AppendResult{}, err
	}
	if err := checkSize(changes); err != nil {
		return AppendResult{}, err
	}
	var res AppendResult
	err := s.update(ctx, func(tx *bolt.Tx) error {
		w := writeTx{tx: tx, tally: map[string]*counts{}}
		var err error
		if res, err = s.applyAll(&w, changes, call); err != nil {
			return err
		}
		if audit := call.audit; audit != nil && res.Accepted == 1 {
			c := changes[0]
			audit.Collection, audit.RecordID, audit.ChangeID = c.Collection, c.RecordID, c.ChangeID
			if _, err := s.appendAudit(tx, audit); err != nil {
				return err
			}
		}
		return w.finish()
	})
	if err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// checkSize refuses a set of changes whose documents pass MaxAppendBytes.
func checkSize(changes []Change) error {
	if total := docBytes(changes); total > MaxAppendBytes {
		return fmt.Errorf("%w: %d changes carry %d bytes of documents, more than %d; send them in smaller groups",
			ErrTooLarge, len(changes), total, MaxAppendBytes)
	}
	return nil
}

// docBytes is the size of changes' documents.
func docBytes(changes []Change) int {
	total := 0
	for i := range changes {
		total += len(changes[i].Doc)
	}
	return total
}

// writeTx is one write transaction that stores changes, of one apply call
// or of a group of local appends: what it accumulates until it commits.
type writeTx struct {
	tx       *bolt.Tx
	tally    map[string]*counts // per-collection counts, stored by finish
	last     Version            // the clock state after the last accepted change
	accepted int
}

// applyAll stores changes in w, in order, and reports each.
func (s *Store) applyAll(w *writeTx, changes []Change, call applyCall) (AppendResult, error) {
	res := AppendResult{Results: make([]ChangeResult, 0, len(changes))}
	for i := range changes {
		r, v, err := s.applyChange(w.tx, w.tally, &changes[i], call)
		if err != nil {
			return AppendResult{}, err
		}
		if r.Outcome == Accepted {
			w.last = v
			w.accepted++
			if call.origin == Remote && changes[i].Resolution != nil {
				// Another device's resolution: its audit entry
				// comes with it, once (the change is accepted once).
				if _, err := s.appendAudit(w.tx, resolutionAudit(&changes[i])); err != nil {
					return AppendResult{}, err
				}
			}
		}
		res.add(r)
	}
	return res, nil
}

// finish stores what w accumulated: the clock state and the counts.
func (w *writeTx) finish() error {
	if w.accepted > 0 {
		if err := bucket(w.tx, bMeta).Put([]byte(keyHLC), []byte(w.last.String())); err != nil {
			return err
		}
	}
	for coll, c := range w.tally {
		if err := putJSON(bucket(w.tx, bCounts), []byte(coll), c); err != nil {
			return err
		}
	}
	return nil
}
