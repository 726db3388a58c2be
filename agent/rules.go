package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// errRulesDoNotApply says that a conflict is one merge rules have nothing
// to say about (a delete against an edit): the collection's policy alone
// settles it, or a person.
var errRulesDoNotApply = errors.New("rules do not apply to a delete")

// ruled is the outcome of ruleMerge: the merged document and, in words
// for people, which rules decided a field ("Reading: higher value").
type ruled struct {
	doc     json.RawMessage
	decided []string
	rules   map[string]schema.Merge // field -> rule, for the fields a rule decided
}

// note is what the conflict's audit entry and history say.
func (r ruled) note() string {
	if len(r.decided) == 0 {
		return "merged by rule: the edits did not clash"
	}
	return "merged by rule: " + strings.Join(r.decided, "; ")
}

// leafValue is one leaf's value of one field.
type leafValue struct {
	v       any
	present bool
	device  string
}

// ruleMerge settles a conflict of a collection that declares merge rules.
// Fields with a rule take what the rule keeps, from the sides that changed
// them since the common ancestor (every side when it is not known); every
// other field falls back to the policy: lww takes the newest leaf,
// prefer-device the newest made here (the resolver), prefer-server the
// server's side (TakeServer), field-merge merges them against the
// ancestor (a clash needs a person), and manual needs them equal on every
// side. The result depends only on the conflict, not on the order changes
// arrived in.
func (a *Agent) ruleMerge(cf store.Conflict, decl *schema.Collection, policy schema.Policy) (ruled, error) {
	for _, l := range cf.Leaves {
		if l.Op == store.OpDelete {
			return ruled{}, errRulesDoNotApply
		}
	}
	docs := make([]map[string]any, len(cf.Leaves))
	for i, l := range cf.Leaves {
		d, err := schema.DecodeDoc(l.Doc)
		if err != nil {
			return ruled{}, fmt.Errorf("leaf %s: %w", l.Version, err)
		}
		docs[i] = d
	}
	var anc map[string]any
	if cf.Ancestor != nil && cf.Ancestor.Op == store.OpPut {
		d, err := schema.DecodeDoc(cf.Ancestor.Doc)
		if err != nil {
			return ruled{}, fmt.Errorf("ancestor: %w", err)
		}
		anc = d
	}
	hasRule := func(k string) bool { return decl.Rule(k) != "" }
	var base map[string]any
	switch policy {
	case schema.PolicyFieldMerge:
		doc, err := fieldMergeExcept(cf, hasRule)
		if err != nil {
			return ruled{}, err
		}
		if base, err = schema.DecodeDoc(doc); err != nil {
			return ruled{}, err
		}
	case schema.PolicyManual:
		if differ := differing(docs, hasRule); len(differ) > 0 {
			return ruled{}, fmt.Errorf("no rule covers %s, where the versions differ", strings.Join(differ, ", "))
		}
		base = docs[len(docs)-1]
	default:
		choice := Choice{Take: TakeDevice}
		switch policy {
		case schema.PolicyPreferServer:
			choice.Take = TakeServer
		case schema.PolicyLWW:
			choice = Choice{Take: TakeVersion, Version: cf.Leaves[len(cf.Leaves)-1].Version}
		}
		_, doc, err := a.choose(cf, choice)
		if err != nil {
			return ruled{}, err
		}
		if base, err = schema.DecodeDoc(doc); err != nil {
			return ruled{}, err
		}
	}
	out := ruled{rules: map[string]schema.Merge{}}
	for _, name := range decl.RuleFields() {
		f, _ := decl.Field(name)
		vals := make([]leafValue, len(docs))
		for i, d := range docs {
			v, ok := d[name]
			vals[i] = leafValue{v: v, present: ok, device: cf.Leaves[i].Device}
		}
		av, aok := anc[name]
		v, present, clash := mergeField(f, decl.Rule(name), anc != nil, leafValue{v: av, present: aok}, vals, a.device)
		if present {
			base[name] = v
		} else {
			delete(base, name)
		}
		if clash {
			label := f.Label
			if label == "" {
				label = f.Name
			}
			out.decided = append(out.decided, label+": "+decl.Rule(name).Words())
			out.rules[name] = decl.Rule(name)
		}
	}
	doc, err := encodeDoc(base)
	if err != nil {
		return ruled{}, err
	}
	out.doc = doc
	return out, nil
}

// differing lists the fields (declared or not) whose values are not the
// same on every leaf, skipping those skip says.
func differing(docs []map[string]any, skip func(string) bool) []string {
	keys := map[string]bool{}
	for _, d := range docs {
		for k := range d {
			keys[k] = true
		}
	}
	var out []string
	for k := range keys {
		if skip(k) {
			continue
		}
		v0, ok0 := docs[0][k]
		for _, d := range docs[1:] {
			v, ok := d[k]
			if canon(v, ok) != canon(v0, ok0) {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// mergeField applies rule to one field. Only the sides that changed the
// field since the ancestor count (every side when the ancestor is not
// known); when at most one distinct new value exists it is kept (no
// clash), otherwise the rule picks among them, in version order. self is
// the device that settles the conflict.
func mergeField(f schema.Field, rule schema.Merge, ancKnown bool, anc leafValue, leaves []leafValue, self string) (v any, present, clash bool) {
	var changed []leafValue
	seen := map[string]bool{}
	for _, l := range leaves {
		if ancKnown && canon(l.v, l.present) == canon(anc.v, anc.present) {
			continue
		}
		changed = append(changed, l)
		seen[canon(l.v, l.present)] = true
	}
	switch {
	case len(changed) == 0:
		last := leaves[len(leaves)-1]
		return last.v, last.present, false
	case len(seen) == 1:
		return changed[0].v, changed[0].present, false
	}
	newest := changed[len(changed)-1]
	pickDevice := func(mine bool) leafValue {
		for i := len(changed) - 1; i >= 0; i-- {
			if (changed[i].device == self) == mine {
				return changed[i]
			}
		}
		return newest
	}
	switch rule {
	case schema.MergeDevice:
		l := pickDevice(true)
		return l.v, l.present, true
	case schema.MergeServer:
		for i := len(changed) - 1; i >= 0; i-- {
			if changed[i].device == ServerDevice {
				return changed[i].v, changed[i].present, true
			}
		}
		l := pickDevice(false)
		return l.v, l.present, true
	case schema.MergeHigher, schema.MergeLower:
		if l, ok := extreme(f, changed, rule == schema.MergeHigher); ok {
			return l.v, true, true
		}
	case schema.MergeJoin:
		if s, ok := joinTexts(f, anc, ancKnown, changed); ok {
			return s, true, true
		}
	case schema.MergeUnion:
		return unionLists(anc, ancKnown, changed), true, true
	}
	return newest.v, newest.present, true
}

// extreme returns the side with the highest (or lowest) value; ties go to
// the newest side. Values that are missing or not of the field's type
// take no part; ok is false when none is left.
func extreme(f schema.Field, ls []leafValue, highest bool) (leafValue, bool) {
	var best leafValue
	var bestN *big.Float
	for _, l := range ls {
		n, ok := numberOf(f, l.v)
		if !l.present || !ok {
			continue
		}
		c := 0
		if bestN != nil {
			c = n.Cmp(bestN)
		}
		if bestN == nil || c == 0 || (c > 0) == highest {
			best, bestN = l, n
		}
	}
	return best, bestN != nil
}

// numberOf reads a number, integer or datetime value as an exact number.
func numberOf(f schema.Field, v any) (*big.Float, bool) {
	if f.Type == schema.TypeDateTime {
		ms, ok := schema.DateTimeMillis(v)
		return new(big.Float).SetInt64(ms), ok
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return new(big.Float).SetInt64(i), true
	}
	x, _, err := big.ParseFloat(n.String(), 10, 256, big.ToNearestEven)
	return x, err == nil
}

// joinTexts joins the new texts of every side, in version order, each
// once: a note with a new line between them, a text with "; ". When every
// side only added to the ancestor's text, the ancestor's text comes once,
// followed by what each side added.
func joinTexts(f schema.Field, anc leafValue, ancKnown bool, ls []leafValue) (string, bool) {
	sep := "; "
	if f.Type == schema.TypeNote {
		sep = "\n"
	}
	var texts []string
	for _, l := range ls {
		if s, ok := l.v.(string); ok && l.present && s != "" && !slices.Contains(texts, s) {
			texts = append(texts, s)
		}
	}
	if len(texts) == 0 {
		return "", false
	}
	base, _ := anc.v.(string)
	if ancKnown && base != "" {
		added := make([]string, 0, len(texts))
		for _, s := range texts {
			rest, ok := strings.CutPrefix(s, base)
			if !ok {
				return strings.Join(texts, sep), true
			}
			if rest = strings.TrimLeft(rest, " ;\n"); rest != "" {
				added = append(added, rest)
			}
		}
		return strings.Join(append([]string{base}, added...), sep), true
	}
	return strings.Join(texts, sep), true
}

// unionLists keeps the ancestor's items that no side removed, then the
// items any side added, in version order, each once.
func unionLists(anc leafValue, ancKnown bool, ls []leafValue) []any {
	items := func(v any) []string {
		var out []string
		list, _ := v.([]any)
		for _, it := range list {
			if s, ok := it.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	var base []string
	if ancKnown {
		base = items(anc.v)
	}
	removed := map[string]bool{}
	var added []string
	for _, l := range ls {
		mine := items(l.v)
		for _, s := range base {
			if !slices.Contains(mine, s) {
				removed[s] = true
			}
		}
		for _, s := range mine {
			if !slices.Contains(base, s) && !slices.Contains(added, s) {
				added = append(added, s)
			}
		}
	}
	out := []any{}
	for _, s := range base {
		if !removed[s] && !slices.Contains(out, any(s)) {
			out = append(out, s)
		}
	}
	for _, s := range added {
		out = append(out, s)
	}
	return out
}
