package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Reading an inbox table's rows: their identity (a change id that only the
// table and the row decide), their shape, and the record states they apply
// to.

// The columns of an inbox row that are not fields.
const (
	inboxRecord = "record_id"
	inboxOp     = "op"
	inboxAuthor = "author"
	inboxReason = "reason"
)

// inboxRow is one row of an inbox table, in the order ingest treats them.
type inboxRow struct {
	index    int    // place in the table's order (sorted by record id, then content)
	changeID string // derived from the collection, table and content
	canon    string // the row as canonical JSON (sorted keys)
	record   string
	op       store.Op
	author   string
	reason   string
	fields   map[string]any // declared field -> converted value (updates)
	reject   string         // why the row cannot be applied; "" when it may
}

// readInboxRows turns the rows Drill returned into inbox rows, in a fixed
// order: by record id, then by content; identical rows are told apart by
// their occurrence. Each row's shape and values are checked against the
// declaration; a row that fails carries its reason.
func readInboxRows(decl *schema.Collection, coll, table string, rows []Row) []inboxRow {
	out := make([]inboxRow, 0, len(rows))
	for _, r := range rows {
		lower := make(map[string]any, len(r))
		for k, v := range r {
			lower[strings.ToLower(k)] = v
		}
		canon, _ := json.Marshal(lower) // map keys are sorted
		ir := inboxRow{canon: string(canon)}
		ir.reject = ir.decode(decl, lower)
		out = append(out, ir)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].record != out[j].record {
			return out[i].record < out[j].record
		}
		return out[i].canon < out[j].canon
	})
	seen := map[string]int{}
	for i := range out {
		key := out[i].canon
		n := seen[key]
		seen[key]++
		out[i].index = i
		out[i].changeID = inboxChangeID(coll, table, key, n)
	}
	return out
}

// decode reads one row's columns; it returns why the row cannot be
// applied, or "".
func (ir *inboxRow) decode(decl *schema.Collection, r map[string]any) string {
	text := func(col string) (string, string) {
		switch v := r[col].(type) {
		case nil:
			return "", ""
		case string:
			return strings.TrimSpace(v), ""
		default:
			return "", fmt.Sprintf("%s is not text (%s)", col, kindOf(v))
		}
	}
	var why string
	if ir.record, why = text(inboxRecord); why != "" {
		return why
	}
	if ir.author, why = text(inboxAuthor); why != "" {
		return why
	}
	if ir.reason, why = text(inboxReason); why != "" {
		return why
	}
	op, why := text(inboxOp)
	if why != "" {
		return why
	}
	switch strings.ToLower(op) {
	case "", "update", "put":
		ir.op = store.OpPut
	case "delete":
		ir.op = store.OpDelete
	default:
		return fmt.Sprintf("op %q is not update or delete", op)
	}
	if ir.record == "" {
		return "record_id is missing"
	}
	if ir.author == "" {
		return "author is missing (say who makes the change)"
	}
	ir.fields = map[string]any{}
	var undeclared []string
	names := make([]string, 0, len(r))
	for k := range r {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch k {
		case inboxRecord, inboxOp, inboxAuthor, inboxReason:
			continue
		}
		f, ok := decl.Field(k)
		if !ok {
			undeclared = append(undeclared, k)
			continue
		}
		if r[k] == nil {
			continue // NULL leaves the field as it is
		}
		if ir.op == store.OpDelete {
			return fmt.Sprintf("a delete sets field %s (leave fields NULL in delete rows)", k)
		}
		v, err := convertCell(f, r[k])
		if err != nil {
			return fmt.Sprintf("field %s: %v", k, err)
		}
		if v == nil {
			continue
		}
		ir.fields[k] = v
	}
	if len(undeclared) > 0 {
		return fmt.Sprintf("column %s is not a declared field of %s (declared: %s)",
			strings.Join(undeclared, ", "), decl.Name, strings.Join(fieldNames(decl), ", "))
	}
	if ir.op == store.OpPut && len(ir.fields) == 0 {
		return "the row changes no field (every field column is NULL)"
	}
	return ""
}

func fieldNames(decl *schema.Collection) []string {
	out := make([]string, len(decl.Fields))
	for i, f := range decl.Fields {
		out[i] = f.Name
	}
	return out
}

// inboxChangeID is the change id of an inbox row: a UUID-shaped digest of
// the collection, the table's name, the row's content and its occurrence
// among identical rows, so every ingester, and every pass after a killed
// one, gives the same row the same id.
func inboxChangeID(coll, table, canon string, occurrence int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("fieldsync-inbox\x00%s\x00%s\x00%s\x00%d", coll, table, canon, occurrence)))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 shape: name-based
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// recordState is what Drill knows of one record: every change of it, by
// change id, and its leaves (the versions no other change names as parent).
type recordState struct {
	changes map[string]store.Change
	leaves  []store.Change // sorted by version, the winner last
}

// add puts a change in the record's graph and recomputes the leaves.
func (rs *recordState) add(c store.Change) {
	if _, ok := rs.changes[c.ChangeID]; ok {
		return
	}
	rs.changes[c.ChangeID] = c
	parent := map[string]bool{}
	for _, x := range rs.changes {
		for _, p := range x.Parents {
			parent[p] = true
		}
	}
	byVersion := map[string]store.Change{}
	for _, x := range rs.changes {
		if !parent[x.Version] {
			byVersion[x.Version] = x
		}
	}
	rs.leaves = rs.leaves[:0]
	for _, x := range byVersion {
		rs.leaves = append(rs.leaves, x)
	}
	sort.Slice(rs.leaves, func(i, j int) bool { return rs.leaves[i].Version < rs.leaves[j].Version })
}

// change builds the change an inbox row makes of the record's state, or
// says why it cannot: an update needs a live record (a conflicted one
// takes its newest leaf as the base), a delete a record not deleted yet.
func (rs *recordState) change(decl *schema.Collection, ir inboxRow, tableMS int64) (store.Change, string) {
	if rs == nil || len(rs.leaves) == 0 {
		return store.Change{}, fmt.Sprintf("unknown record %q: no device has pushed it to Drill", ir.record)
	}
	winner := rs.leaves[len(rs.leaves)-1]
	allDeleted := true
	for _, l := range rs.leaves {
		allDeleted = allDeleted && l.Op == store.OpDelete
	}
	parents := make([]string, len(rs.leaves))
	for i, l := range rs.leaves {
		parents[i] = l.Version
	}
	c := store.Change{
		ChangeID: ir.changeID, Collection: decl.Name, RecordID: ir.record, Op: ir.op,
		Version: versionAfter(store.Version{WallMS: tableMS, Node: ServerDevice}, parents).String(),
		Parents: parents, Device: ServerDevice, Author: ir.author, EditedAt: tableMS,
	}
	if len(parents) > 1 {
		// The row settles an open conflict: it is the analyst's resolution,
		// listed in <collection>_resolutions and in the devices' history.
		c.Resolution = &store.Resolution{How: "server", WinnerBefore: winner.Version, Note: resolutionNote(ir.reason)}
	}
	if ir.op == store.OpDelete {
		if allDeleted {
			return store.Change{}, fmt.Sprintf("record %q is already deleted", ir.record)
		}
		return c, ""
	}
	if winner.Op == store.OpDelete {
		return store.Change{}, fmt.Sprintf("record %q is deleted", ir.record)
	}
	if len(winner.Doc) == 0 {
		return store.Change{}, fmt.Sprintf("record %q: its current version could not be read from Drill or is not valid", ir.record)
	}
	doc, err := schema.DecodeDoc(winner.Doc)
	if err != nil {
		return store.Change{}, fmt.Sprintf("record %q: its current version cannot be read: %v", ir.record, err)
	}
	for k, v := range ir.fields {
		doc[k] = v
	}
	c.Doc, err = encodeDoc(doc)
	if err != nil {
		return store.Change{}, fmt.Sprintf("record %q: %v", ir.record, err)
	}
	if err := decl.Validate(c.Doc); err != nil {
		return store.Change{}, fmt.Sprintf("the record would not be valid: %v", err)
	}
	return c, ""
}

// resolutionNote is the note of a resolution made through the inbox: the
// row's reason, cut to what a resolution holds.
func resolutionNote(reason string) string {
	reason = strings.ReplaceAll(strings.ToValidUTF8(reason, "\uFFFD"), "\x00", "")
	if reason == "" {
		return "resolved through the inbox"
	}
	const most = 1000 // runes, well under store's 4,096-byte bound
	if r := []rune(reason); len(r) > most {
		return string(r[:most]) + "…"
	}
	return reason
}

// versionAfter returns v, or when a parent is not before it the version
// right after the newest parent, on v's node: a change always sorts after
// what it was made from.
func versionAfter(v store.Version, parents []string) store.Version {
	for _, p := range parents {
		pv, err := store.ParseVersion(p)
		if err != nil || pv.Less(v) {
			continue
		}
		if pv.Counter == 0xffff {
			v = store.Version{WallMS: pv.WallMS + 1, Node: v.Node}
		} else {
			v = store.Version{WallMS: pv.WallMS, Counter: pv.Counter + 1, Node: v.Node}
		}
	}
	return v
}
