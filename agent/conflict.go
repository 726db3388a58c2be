package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Take names what a resolution keeps.
type Take string

// The choices of a resolution.
const (
	// TakeDevice keeps the newest leaf made on this device.
	TakeDevice Take = "device"
	// TakeServer keeps the server's side: the newest leaf made in Drill
	// (an inbox row turned into a change by fieldsync ingest, device
	// ServerDevice); when no leaf is the server's, the newest leaf that
	// came from another device.
	TakeServer Take = "server"
	// TakeMerge keeps Choice.Doc, or when it is nil merges the leaves field
	// by field against their common ancestor (only when they touched
	// disjoint fields).
	TakeMerge Take = "merge"
	// TakeVersion keeps the leaf whose version is Choice.Version.
	TakeVersion Take = "version"
)

// Choice says how to resolve one conflict.
type Choice struct {
	Take    Take            `json:"take"`
	Version string          `json:"version,omitempty"`
	Doc     json.RawMessage `json:"doc,omitempty"`
	// Author is who resolves (shown in the audit log); "" means this device.
	Author string `json:"author,omitempty"`
}

// Sentinel errors of conflict resolution.
var (
	// ErrNoConflict is returned by Resolve for a record not in conflict.
	ErrNoConflict = errors.New("record is not in conflict")
	// ErrCannotMerge is returned when the leaves changed the same field
	// differently, so a field merge needs a person.
	ErrCannotMerge = errors.New("the edits changed the same fields")
)

// Resolve settles a record's conflict as a person chose: it appends a new
// change whose parents are every leaf, plus an audit entry, and returns the
// change (which is pushed like any other).
func (a *Agent) Resolve(ctx context.Context, collection, id string, choice Choice) (store.Change, error) {
	cf, err := a.st.Conflict(ctx, collection, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Change{}, fmt.Errorf("agent: resolve %s/%s: %w", collection, id, ErrNoConflict)
		}
		return store.Change{}, fmt.Errorf("agent: resolve %s/%s: %w", collection, id, err)
	}
	op, doc, err := a.choose(cf, choice)
	if err != nil {
		return store.Change{}, fmt.Errorf("agent: resolve %s/%s: %w", collection, id, err)
	}
	if op == store.OpPut {
		if decl, derr := a.schema.Collection(collection); derr == nil {
			if err := decl.Validate(doc); err != nil {
				return store.Change{}, fmt.Errorf("agent: resolve %s/%s: %w", collection, id, err)
			}
		}
	}
	author := choice.Author
	if author == "" {
		author = a.device
	}
	c, err := a.resolveWith(ctx, cf, op, doc, author, store.Resolution{How: string(choice.Take)})
	if err != nil {
		return store.Change{}, fmt.Errorf("agent: resolve %s/%s: %w", collection, id, err)
	}
	return c, nil
}

// choose returns the op and doc a choice keeps.
func (a *Agent) choose(cf store.Conflict, choice Choice) (store.Op, json.RawMessage, error) {
	pick := func(keep func(store.Change) bool, what string) (store.Op, json.RawMessage, error) {
		for i := len(cf.Leaves) - 1; i >= 0; i-- {
			if keep(cf.Leaves[i]) {
				return cf.Leaves[i].Op, cf.Leaves[i].Doc, nil
			}
		}
		return "", nil, fmt.Errorf("no leaf %s", what)
	}
	switch choice.Take {
	case TakeDevice:
		return pick(func(c store.Change) bool { return c.Device == a.device }, "was made on this device")
	case TakeServer:
		if slices.ContainsFunc(cf.Leaves, isServer) {
			return pick(isServer, "was made in Drill")
		}
		return pick(func(c store.Change) bool { return c.Device != a.device }, "came from another device")
	case TakeVersion:
		return pick(func(c store.Change) bool { return c.Version == choice.Version }, "has version "+choice.Version)
	case TakeMerge:
		if len(choice.Doc) > 0 {
			if _, err := schema.DecodeDoc(choice.Doc); err != nil {
				return "", nil, err
			}
			return store.OpPut, choice.Doc, nil
		}
		doc, err := fieldMerge(cf)
		if err != nil {
			return "", nil, err
		}
		return store.OpPut, doc, nil
	}
	return "", nil, fmt.Errorf("unknown choice %q (want device, server, merge or version)", choice.Take)
}

// resolveWith appends the resolution change and its audit entry. res says
// how (and may carry a note and the rules that decided); the version kept
// whole, if any, and the winner before are filled in here. The audit entry
// rides on the change (Change.Resolution), so it reaches Drill in the
// change's own row, exactly once, and every device with it.
func (a *Agent) resolveWith(ctx context.Context, cf store.Conflict, op store.Op, doc json.RawMessage, author string, res store.Resolution) (store.Change, error) {
	v, err := a.st.NextVersion(ctx)
	if err != nil {
		return store.Change{}, err
	}
	parents := make([]string, 0, len(cf.Leaves))
	for _, l := range cf.Leaves {
		parents = append(parents, l.Version)
	}
	v = versionAfter(v, parents)
	id, err := newChangeID()
	if err != nil {
		return store.Change{}, err
	}
	c := store.Change{
		ChangeID: id, Collection: cf.Collection, RecordID: cf.RecordID, Op: op,
		Version: v.String(), Parents: parents, Device: a.device, Author: author,
		EditedAt: a.now().UnixMilli(),
	}
	if op == store.OpPut {
		c.Doc = doc
	}
	res.WinnerBefore = cf.Winner
	for _, l := range cf.Leaves {
		if l.Op == op && (op == store.OpDelete || bytes.Equal(l.Doc, doc)) {
			res.Chosen = l.Version
		}
	}
	c.Resolution = &res
	r, err := a.st.Resolve(ctx, c, store.AuditEntry{Actor: author, Action: "resolve"})
	if err != nil {
		return store.Change{}, err
	}
	if r.Outcome == store.Rejected {
		return store.Change{}, r.Err
	}
	a.events.Emit(EventConflict, map[string]any{"collection": cf.Collection, "record_id": cf.RecordID, "resolved": true, "change": c})
	return c, nil
}

// settle applies the collection's policy to records that came out of a
// pull in conflict. Automatic policies are applied by one device only, the
// device that made the winning leaf, so that devices do not race each other
// with competing resolutions; the others keep the conflict open, annotated,
// until that resolution arrives.
func (a *Agent) settle(ctx context.Context, coll string, records map[string]bool, rep *Report) error {
	return a.settleRecords(ctx, coll, records, true, rep)
}

// settleOpen applies automatic policies to every open conflict of the
// declared collections, e.g. ones detected before a collection's policy was
// changed from manual.
func (a *Agent) settleOpen(ctx context.Context, rep *Report) error {
	for _, c := range a.schema.Collections {
		if c.EffectivePolicy() == schema.PolicyManual && !c.HasRules() {
			continue
		}
		cfs, err := a.st.Conflicts(ctx, c.Name)
		if err != nil {
			return fmt.Errorf("conflict: %w", err)
		}
		ids := map[string]bool{}
		for _, cf := range cfs {
			ids[cf.RecordID] = true
		}
		if err := a.settleRecords(ctx, c.Name, ids, false, rep); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) settleRecords(ctx context.Context, coll string, records map[string]bool, announce bool, rep *Report) error {
	if len(records) == 0 {
		return nil
	}
	policy := schema.PolicyManual
	decl, err := a.schema.Collection(coll)
	if err == nil {
		policy = decl.EffectivePolicy()
	}
	rules := err == nil && decl.HasRules()
	what := "policy " + string(policy)
	if rules {
		what += " with rules"
	}
	ids := make([]string, 0, len(records))
	for id := range records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		cf, err := a.st.Conflict(ctx, coll, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("conflict: %w", err)
		}
		if announce {
			a.events.Emit(EventConflict, map[string]any{"collection": coll, "record_id": id, "leaves": len(cf.Leaves)})
		}
		if policy == schema.PolicyManual && !rules {
			continue
		}
		if len(cf.Missing) > 0 {
			// The conflict may only be arrival order: a change still on
			// its way may descend from the other leaf.
			a.note(ctx, cf, fmt.Sprintf("%s: waiting for %d earlier change(s) to arrive", what, len(cf.Missing)))
			continue
		}
		winner := cf.Leaves[len(cf.Leaves)-1]
		if r, why := resolverOf(cf); r != a.device {
			a.note(ctx, cf, fmt.Sprintf("%s: waiting for device %s, %s, to settle it", what, r, why))
			continue
		}
		op, doc, how, extra, err := a.settleOne(cf, decl, policy, rules, winner)
		if err != nil {
			a.note(ctx, cf, fmt.Sprintf("%s does not apply: %v; a person must choose", what, err))
			continue
		}
		extra.How = how
		if _, err := a.resolveWith(ctx, cf, op, doc, "fieldsync "+what, extra); err != nil {
			if errors.Is(err, store.ErrStaleResolution) {
				continue
			}
			return fmt.Errorf("conflict: settle %s/%s: %w", coll, id, err)
		}
		rep.AutoResolved++
	}
	return nil
}

// settleOne returns what the collection's rules, else its policy, keep of
// a conflict, and how (for the audit entry). A merged document that the
// declaration refuses is left to a person.
func (a *Agent) settleOne(cf store.Conflict, decl *schema.Collection, policy schema.Policy, rules bool, winner store.Change) (store.Op, json.RawMessage, string, store.Resolution, error) {
	var none store.Resolution
	if rules {
		r, err := a.ruleMerge(cf, decl, policy)
		switch {
		case err == nil:
			if verr := decl.Validate(r.doc); verr != nil {
				return "", nil, "", none, fmt.Errorf("the merged record is not valid: %w", verr)
			}
			decided := make(map[string]string, len(r.rules))
			for f, m := range r.rules {
				decided[f] = string(m)
			}
			return store.OpPut, r.doc, "rules", store.Resolution{Note: r.note(), Rules: decided}, nil
		case !errors.Is(err, errRulesDoNotApply):
			return "", nil, "", none, err
		case policy == schema.PolicyManual:
			return "", nil, "", none, errors.New("a delete against an edit")
		}
	}
	var take Take
	switch policy {
	case schema.PolicyLWW:
		take = TakeVersion
	case schema.PolicyPreferDevice:
		take = TakeDevice
	case schema.PolicyPreferServer:
		take = TakeServer
	case schema.PolicyFieldMerge:
		take = TakeMerge
	}
	op, doc, err := a.choose(cf, Choice{Take: take, Version: winner.Version})
	return op, doc, string(policy), none, err
}

// isServer reports whether a change was made in Drill (fieldsync ingest).
func isServer(c store.Change) bool { return c.Device == ServerDevice }

// resolverOf returns the device that settles a conflict automatically: the
// one that made the newest leaf, or when the server made it (the server
// settles nothing: it holds no store) the one that made the newest leaf of
// the others. When every leaf of the devices is itself a resolution (two
// devices settled the same conflict from views that differed), it is the
// lowest device id among them instead: each device's own resolution is the
// newest leaf in its own view until the other's arrives, so "newest" would
// make both resolvers again, while the lowest id names one device in
// either view. Every device computes the same from the same leaves.
// why says which rule named it, for the note the other devices show.
func resolverOf(cf store.Conflict) (device, why string) {
	newest, lowest := "", ""
	competing := true
	for i := len(cf.Leaves) - 1; i >= 0; i-- {
		l := cf.Leaves[i]
		if isServer(l) {
			continue
		}
		if newest == "" {
			newest = l.Device
		}
		if l.Resolution == nil {
			competing = false
		}
		if lowest == "" || l.Device < lowest {
			lowest = l.Device
		}
	}
	switch {
	case newest == "":
		return ServerDevice, "which made the newest edit"
	case competing:
		return lowest, "the lowest id among devices whose resolutions compete"
	}
	return newest, "which made the newest edit"
}

// SideName names the side of a conflict a change is, for people: "server
// (ana)" for an edit made in Drill, else "author@device".
func SideName(c store.Change) string {
	author := c.Author
	if author == "" {
		author = "?"
	}
	if isServer(c) {
		return "server (" + author + ")"
	}
	return author + "@" + c.Device
}

// note stores an explanation on an open conflict (once).
func (a *Agent) note(ctx context.Context, cf store.Conflict, note string) {
	if cf.Note == note {
		return
	}
	cf.Note = note
	if err := a.st.PutConflict(ctx, cf); err != nil {
		a.log.Warn("annotate conflict", "collection", cf.Collection, "record_id", cf.RecordID, "err", err)
	}
}

// fieldMerge merges the leaves of a conflict against their common ancestor
// when each field was changed by at most one of them (or to the same value
// by several). Deletes never merge.
func fieldMerge(cf store.Conflict) (json.RawMessage, error) {
	return fieldMergeExcept(cf, func(string) bool { return false })
}

// fieldMergeExcept is fieldMerge that leaves the fields skip names to
// someone else (merge rules): they never clash, and the merged document
// holds any one side's value of them.
func fieldMergeExcept(cf store.Conflict, skip func(string) bool) (json.RawMessage, error) {
	if cf.Ancestor == nil {
		return nil, errors.New("the common ancestor is not known")
	}
	if cf.Ancestor.Op == store.OpDelete {
		return nil, errors.New("the common ancestor is a delete")
	}
	base, err := schema.DecodeDoc(cf.Ancestor.Doc)
	if err != nil {
		return nil, fmt.Errorf("ancestor: %w", err)
	}
	merged := make(map[string]any, len(base))
	for k, v := range base {
		merged[k] = v
	}
	changedBy := map[string]string{} // field -> canonical new value ("" = removed)
	var clash []string
	for _, l := range cf.Leaves {
		if l.Op == store.OpDelete {
			return nil, errors.New("a delete against an edit")
		}
		doc, err := schema.DecodeDoc(l.Doc)
		if err != nil {
			return nil, fmt.Errorf("leaf %s: %w", l.Version, err)
		}
		keys := map[string]bool{}
		for k := range doc {
			keys[k] = true
		}
		for k := range base {
			keys[k] = true
		}
		for k := range keys {
			nv, inNew := doc[k]
			ov, inOld := base[k]
			nc, oc := canon(nv, inNew), canon(ov, inOld)
			if nc == oc {
				continue
			}
			if prev, ok := changedBy[k]; ok && prev != nc && !skip(k) {
				clash = append(clash, k)
				continue
			}
			changedBy[k] = nc
			if inNew {
				merged[k] = nv
			} else {
				delete(merged, k)
			}
		}
	}
	if len(clash) > 0 {
		slices.Sort(clash)
		clash = slices.Compact(clash)
		return nil, fmt.Errorf("%w: %s", ErrCannotMerge, strings.Join(clash, ", "))
	}
	return encodeDoc(merged)
}

// canon is a comparable text of a decoded JSON value ("" when absent).
func canon(v any, present bool) string {
	if !present {
		return ""
	}
	b, _ := encodeDoc(v)
	return "=" + string(b)
}

func encodeDoc(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// newChangeID returns a random change id (UUID version 4 text).
func newChangeID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("change id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
