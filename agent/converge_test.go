package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// convergence drives several devices that share one Drill through random
// creates, edits and deletes of a few records, with skewed clocks and random
// sync orders, then checks that they converge, that the conflicts they show
// are exactly the records whose version graph (as logged in Drill) has more
// than one leaf, and that resolutions converge too.
type convergence struct {
	d       Drill
	set     *schema.Set
	coll    string
	devices int
	records int
	steps   int
	seed    uint64
}

func (cv convergence) run(t *testing.T) []*node {
	t.Helper()
	rng := rand.New(rand.NewPCG(cv.seed, 7))
	base := time.Now().UnixMilli()
	skews := []time.Duration{0, -3 * time.Minute, 7 * time.Minute, 90 * time.Second}
	var nodes []*node
	for i := range cv.devices {
		n := mustNode(t, fmt.Sprintf("d%d", i), base+skews[i%len(skews)].Milliseconds(), cv.d, func(o *Options) {
			o.Schema = cv.set
			o.BatchRows = 3
		})
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	auto := 0 // conflicts settled by the policy, in the steps' syncs and after
	for step := range cv.steps {
		n := nodes[rng.IntN(len(nodes))]
		n.clk.Advance(time.Duration(rng.IntN(2000)) * time.Millisecond)
		id := fmt.Sprintf("r%d", rng.IntN(cv.records))
		rec, err := n.st.Record(ctx, cv.coll, id)
		exists := err == nil
		switch p := rng.IntN(100); {
		case p < 30:
			auto += n.sync(t).AutoResolved
		case p < 40 && exists && !rec.Deleted:
			n.edit(t, cv.coll, id, "")
		case p < 70 && exists && !rec.Deleted:
			// Change one declared field only, so that concurrent edits
			// sometimes touch disjoint fields (what field-merge settles
			// alone) and, with rules on, every rule's field clashes.
			doc, err := schema.DecodeDoc(rec.Doc)
			if err != nil {
				t.Fatal(err)
			}
			f := cv.editedField(t, rng)
			doc[f.Name] = randomValue(rng, f, doc[f.Name], fmt.Sprintf("%s step %d", n.device, step), base)
			b, err := encodeDoc(doc)
			if err != nil {
				t.Fatal(err)
			}
			n.edit(t, cv.coll, id, string(b))
		default:
			// A whole new record: every declared field. A record this
			// device does not hold yet gets texts and lists of its own
			// (the same on every device that creates it meanwhile), so
			// that concurrent creates clash on numbers and times only,
			// which rules can settle where the policy is manual.
			doc := map[string]any{}
			text := fmt.Sprintf("%s step %d", n.device, step)
			decl, err := cv.set.Collection(cv.coll)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range decl.Fields {
				if !exists {
					text = fmt.Sprintf("%s %s", id, f.Name)
				}
				doc[f.Name] = randomValue(rng, f, nil, text, base)
			}
			b, err := encodeDoc(doc)
			if err != nil {
				t.Fatal(err)
			}
			n.edit(t, cv.coll, id, string(b))
		}
	}
	auto += cv.quiesce(t, nodes)
	want := cv.graphConflicts(t)
	t.Logf("%d records in conflict before resolving, %d settled by the %s policy: %v", len(want), auto, cv.policy(t), want)
	decl, _ := cv.set.Collection(cv.coll)
	switch cv.policy(t) {
	case schema.PolicyManual:
		if decl.HasRules() {
			// Rules settle what they cover; clashes elsewhere stay.
			break
		}
		if auto != 0 {
			t.Errorf("the manual policy settled %d conflicts on its own", auto)
		}
	case schema.PolicyFieldMerge:
		// Overlapping edits and records created on several devices (no
		// common ancestor) stay for a person; TestFieldMerge and
		// TestIntegrationFieldMerge prove the merges themselves.
	default:
		if len(want) != 0 || auto == 0 {
			t.Errorf("the %s policy left %d conflicts and settled %d; want none left", cv.policy(t), len(want), auto)
		}
	}
	for _, n := range nodes {
		got := map[string][]string{}
		cfs, err := n.st.Conflicts(ctx, cv.coll)
		if err != nil {
			t.Fatal(err)
		}
		for _, cf := range cfs {
			for _, l := range cf.Leaves {
				got[cf.RecordID] = append(got[cf.RecordID], l.Version)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s shows conflicts %v, the version graph in Drill has %v", n.device, got, want)
		}
	}
	cv.assertSameMirrors(t, nodes)
	if decl.HasRules() {
		cv.assertEveryRuleDecided(t, nodes[0], decl)
	}
	// Resolve every conflict, each on a random device, then converge again.
	for id := range want {
		n := nodes[rng.IntN(len(nodes))]
		take := []Take{TakeDevice, TakeServer}[rng.IntN(2)]
		if _, err := n.ag.Resolve(ctx, cv.coll, id, Choice{Take: take, Author: "tester"}); err != nil {
			if _, err := n.ag.Resolve(ctx, cv.coll, id, Choice{Take: TakeVersion, Version: want[id][len(want[id])-1]}); err != nil {
				t.Fatalf("%s resolve %s: %v", n.device, id, err)
			}
		}
	}
	cv.quiesce(t, nodes)
	if got := cv.graphConflicts(t); len(got) != 0 {
		t.Errorf("conflicts left after resolving: %v", got)
	}
	for _, n := range nodes {
		if cfs, _ := n.st.Conflicts(ctx, cv.coll); len(cfs) != 0 {
			t.Errorf("%s still shows %d conflicts", n.device, len(cfs))
		}
	}
	cv.assertSameMirrors(t, nodes)
	return nodes
}

// assertEveryRuleDecided fails unless each field rule of decl decided at
// least one automatic resolution in n's history: a rule that never met a
// clash was not tested by the run.
func (cv convergence) assertEveryRuleDecided(t *testing.T, n *node, decl *schema.Collection) {
	t.Helper()
	decided := map[string]int{}
	eachRecord(t, n, cv.coll, func(r store.Record) {
		h, err := n.st.History(context.Background(), cv.coll, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range h {
			if c.Resolution == nil {
				continue
			}
			for f, rule := range c.Resolution.Rules {
				decided[f+":"+rule]++
			}
		}
	})
	t.Logf("fields decided by rule: %v", decided)
	for _, f := range decl.RuleFields() {
		if decided[f+":"+string(decl.Rule(f))] == 0 {
			t.Errorf("rule %s of field %s never decided a conflict; the run does not test it", decl.Rule(f), f)
		}
	}
}

// editedField picks the declared field an edit changes: with merge rules
// declared, a field with a rule two times in three, so that every rule gets
// clashes to settle in a short run.
func (cv convergence) editedField(t *testing.T, rng *rand.Rand) schema.Field {
	t.Helper()
	decl, err := cv.set.Collection(cv.coll)
	if err != nil {
		t.Fatal(err)
	}
	if ruled := decl.RuleFields(); len(ruled) > 0 && rng.IntN(3) > 0 {
		f, _ := decl.Field(ruled[rng.IntN(len(ruled))])
		return f
	}
	return decl.Fields[rng.IntN(len(decl.Fields))]
}

// randomValue returns a new value of field f's type, made from old (the
// value before) where that makes the edit a typical one: a note or a list
// grows from what it held, or loses an item. text is a text unique to the
// edit; baseMS an epoch time near the test's.
func randomValue(rng *rand.Rand, f schema.Field, old any, text string, baseMS int64) any {
	switch f.Type {
	case schema.TypeNumber:
		return json.Number(fmt.Sprint(float64(rng.IntN(2000)-500) / 10))
	case schema.TypeInteger:
		return json.Number(fmt.Sprint(rng.IntN(200) - 50))
	case schema.TypeBoolean:
		return rng.IntN(2) == 0
	case schema.TypeEnum:
		return f.Options[rng.IntN(len(f.Options))]
	case schema.TypeDateTime:
		ms := baseMS + int64(rng.IntN(10*24*3600))*1000
		if rng.IntN(2) == 0 {
			return time.UnixMilli(ms).UTC().Format(time.RFC3339)
		}
		return json.Number(fmt.Sprint(ms))
	case schema.TypeNote:
		if s, ok := old.(string); ok && s != "" && rng.IntN(2) == 0 {
			return s + "\n" + text
		}
		return text
	case schema.TypeList:
		list, _ := old.([]any)
		list = slices.Clone(list)
		if len(list) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(list))
			return slices.Delete(list, i, i+1)
		}
		return append(list, text)
	}
	return text
}

// quiesce syncs every device in random order until a whole round moves
// nothing, and returns how many conflicts the policy settled meanwhile.
func (cv convergence) quiesce(t *testing.T, nodes []*node) (autoResolved int) {
	t.Helper()
	for round := range 12 {
		moved := 0
		for _, i := range rand.Perm(len(nodes)) {
			rep := nodes[i].sync(t)
			moved += rep.Pushed + rep.Pulled + rep.Incomplete + rep.AutoResolved
			autoResolved += rep.AutoResolved
		}
		if moved == 0 && round > 0 {
			return autoResolved
		}
	}
	t.Fatal("devices still moving changes after 12 rounds")
	return 0
}

func (cv convergence) policy(t *testing.T) schema.Policy {
	t.Helper()
	c, err := cv.set.Collection(cv.coll)
	if err != nil {
		t.Fatal(err)
	}
	return c.EffectivePolicy()
}

// graphConflicts reads the whole change log from Drill and returns, per
// record with more than one leaf, the leaf versions in ascending order.
func (cv convergence) graphConflicts(t *testing.T) map[string][]string {
	t.Helper()
	rows, err := cv.d.Query(context.Background(), fmt.Sprintf(
		"SELECT `record_id`, `version`, `parents` FROM `dfs`.`fieldsync`.`%s/changes`", cv.coll))
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string][]string{}
	parent := map[string]bool{}
	for _, r := range rows {
		c := store.Change{RecordID: r["record_id"].(string), Version: r["version"].(string)}
		if err := json.Unmarshal([]byte(r["parents"].(string)), &c.Parents); err != nil {
			t.Fatal(err)
		}
		versions[c.RecordID] = append(versions[c.RecordID], c.Version)
		for _, p := range c.Parents {
			parent[c.RecordID+"\x00"+p] = true
		}
	}
	out := map[string][]string{}
	for id, vs := range versions {
		var leaves []string
		for _, v := range vs {
			if !parent[id+"\x00"+v] {
				leaves = append(leaves, v)
			}
		}
		if len(leaves) > 1 {
			slices.Sort(leaves)
			out[id] = leaves
		}
	}
	return out
}

func mirror(t *testing.T, n *node, coll string) []string {
	t.Helper()
	var out []string
	eachRecord(t, n, coll, func(r store.Record) {
		out = append(out, fmt.Sprintf("%s %s deleted=%v leaves=%s %s", r.ID, r.Version, r.Deleted, strings.Join(r.Leaves, ","), r.Doc))
	})
	return out
}

// eachRecord calls f with every record of a device's mirror, deleted ones
// included, in id order.
func eachRecord(t *testing.T, n *node, coll string, f func(store.Record)) {
	t.Helper()
	page := store.Page{IncludeDeleted: true, Limit: 500}
	for {
		p, err := n.st.Records(context.Background(), coll, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			f(r)
		}
		if p.Next == "" {
			return
		}
		page.After = p.Next
	}
}

func (cv convergence) assertSameMirrors(t *testing.T, nodes []*node) {
	t.Helper()
	first := mirror(t, nodes[0], cv.coll)
	if len(first) == 0 {
		t.Fatal("no records at all")
	}
	for _, n := range nodes[1:] {
		if got := mirror(t, n, cv.coll); strings.Join(got, "\n") != strings.Join(first, "\n") {
			t.Errorf("%s and %s differ:\n%s\n---\n%s", nodes[0].device, n.device, strings.Join(first, "\n"), strings.Join(got, "\n"))
		}
	}
}

func TestConvergenceFake(t *testing.T) {
	t.Parallel()
	for _, coll := range []string{"inspections", "lww", "merged", "server", "device", "ruled", "rulesonly"} {
		for _, seed := range []uint64{1, 2} {
			t.Run(fmt.Sprintf("%s/seed%d", coll, seed), func(t *testing.T) {
				t.Parallel()
				convergence{d: newFakeDrill(), set: mustSchema(t), coll: coll, devices: 3, records: 6, steps: 150, seed: seed}.run(t)
			})
		}
	}
}
