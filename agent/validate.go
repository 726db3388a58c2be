package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/store"
)

// Everything pulled is untrusted: Drill is shared and written by analysts,
// pipelines and other devices (some with wrong clocks). A pulled row is
// checked here before anything of it reaches the store; the push side runs
// the same change checks, so it never writes what a pull would reject.

// maxBatchRows bounds the batch_rows a row may claim (a pushed batch holds
// at most Options.BatchRows, itself at most 100,000).
const maxBatchRows = 1_000_000

// refusal is why a row or change is refused, in plain words.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// rowError is why one pulled row (or a change about to be pushed) is
// refused.
func rowError(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// textColumn reads a column that must hold text; NULL and other types are
// refused with the column's name.
func textColumn(r Row, col string, required bool) (string, error) {
	v, ok := r[col]
	switch s, isText := v.(string); {
	case !ok || v == nil:
		if required {
			return "", rowError("%s is NULL", col)
		}
		return "", nil
	case !isText:
		return "", rowError("%s is not text (%T)", col, v)
	case required && s == "":
		return "", rowError("%s is empty", col)
	default:
		return s, nil
	}
}

// decodeRow turns one pulled row into a change and its batch's row count,
// or says why the row cannot be one. It checks the row's shape only;
// checkChange checks the change.
func decodeRow(coll string, r Row) (store.Change, int64, error) {
	c := store.Change{Collection: coll}
	var err error
	for _, f := range []struct {
		col      string
		dst      *string
		required bool
	}{
		{"change_id", &c.ChangeID, true}, {"record_id", &c.RecordID, true},
		{"version", &c.Version, true}, {"device", &c.Device, true},
		{"author", &c.Author, false},
	} {
		if *f.dst, err = textColumn(r, f.col, f.required); err != nil {
			return c, 0, err
		}
	}
	op, err := textColumn(r, "op", true)
	if err != nil {
		return c, 0, err
	}
	c.Op = store.Op(op)
	parents, err := textColumn(r, "parents", false)
	if err != nil {
		return c, 0, err
	}
	if parents != "" {
		if err := json.Unmarshal([]byte(parents), &c.Parents); err != nil {
			return c, 0, rowError("parents is not a JSON list of versions: %q", cutText(parents, 80))
		}
	}
	doc, err := textColumn(r, "doc", false)
	if err != nil {
		return c, 0, err
	}
	if doc != "" {
		c.Doc = json.RawMessage(doc)
	}
	if v := r["edited_at"]; v != nil {
		if c.EditedAt, err = asInt(v); err != nil {
			return c, 0, rowError("edited_at is not a whole number: %v", v)
		}
	}
	if c.Resolution, err = decodeResolution(r); err != nil {
		return c, 0, err
	}
	if r["batch_rows"] == nil {
		return c, 0, rowError("batch_rows is NULL (the batch's row count is unknown)")
	}
	n, err := asInt(r["batch_rows"])
	if err != nil || n < 1 || n > maxBatchRows {
		return c, 0, rowError("batch_rows is not a whole number from 1 to %d: %v", maxBatchRows, r["batch_rows"])
	}
	return c, n, nil
}

// checkChange applies the rules every change must follow, pulled or about
// to be pushed: the store's own (ids, op, doc, version format, limits), the
// declaration's field types, and the clock bound: the version's wall time
// at most boundMS.
func (a *Agent) checkChange(c store.Change, boundMS int64) error {
	if err := c.Validate(); err != nil {
		// "invalid change "<id>": <what>": the item names the change already.
		msg := strings.TrimPrefix(err.Error(), store.ErrInvalidChange.Error()+" ")
		if _, what, ok := strings.Cut(msg, `": `); ok && strings.HasPrefix(msg, `"`) {
			msg = what
		}
		return rowError("%s", msg)
	}
	if err := store.CheckLimits(&c); err != nil {
		return rowError("%v", err)
	}
	v, _ := store.ParseVersion(c.Version) // Validate parsed it
	if v.WallMS > boundMS {
		return rowError("version %s is %s ahead of the clocks (more than the %s allowed): a device's clock is wrong",
			cutText(c.Version, 80), aheadText(time.Duration(v.WallMS-boundMS)*time.Millisecond+a.opts.MaxClockAhead), aheadText(a.opts.MaxClockAhead))
	}
	if c.Op == store.OpPut {
		if decl, err := a.schema.Collection(c.Collection); err == nil {
			if err := decl.CheckTypes(c.Doc); err != nil {
				return rowError("%v", err)
			}
		}
	}
	return nil
}

// aheadText says a duration in the unit people use for it.
func aheadText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.Round(time.Second).String()
}

// cutText shortens s for a message.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// rowContent is the copy of a refused row kept with its quarantined item.
func rowContent(r Row) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprint(r)
	}
	return string(b)
}
