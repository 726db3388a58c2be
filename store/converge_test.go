package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomHistory makes n changes over a few records: creates, edits from a
// random earlier version (which branches), deletes, and merges of every
// leaf, in an order where parents come first.
func randomHistory(rng *rand.Rand, n int) []Change {
	type rec struct{ versions, leaves []string }
	recs := map[string]*rec{}
	var out []Change
	for i := range n {
		rid := fmt.Sprintf("r%d", rng.IntN(4))
		r := recs[rid]
		if r == nil {
			r = &rec{}
			recs[rid] = r
		}
		v := Version{WallMS: int64(1000 + i), Counter: uint16(rng.IntN(3)), Node: fmt.Sprintf("dev%d", 1+rng.IntN(3))}.String()
		var parents []string
		switch k := rng.IntN(10); {
		case len(r.versions) == 0:
		case k < 5: // edit of the newest leaf
			parents = []string{r.leaves[len(r.leaves)-1]}
		case k < 8: // edit of an old version: a concurrent branch
			parents = []string{r.versions[rng.IntN(len(r.versions))]}
		default: // a merge of every leaf
			parents = slices.Clone(r.leaves)
		}
		c := put(fmt.Sprintf("c%d", i), rid, v, fmt.Sprintf(`{"i":%d}`, i), parents...)
		if rng.IntN(8) == 0 {
			c = del(fmt.Sprintf("c%d", i), rid, v, parents...)
		}
		out = append(out, c)
		r.versions = append(r.versions, v)
		r.leaves = slices.DeleteFunc(r.leaves, func(l string) bool { return slices.Contains(parents, l) })
		r.leaves = append(r.leaves, v)
		slices.Sort(r.leaves)
	}
	return out
}

// modelLeaves computes the leaves of each record from the whole history:
// versions no change names as a parent.
func modelLeaves(changes []Change) map[string][]string {
	child := map[string]bool{}
	for _, c := range changes {
		for _, p := range c.Parents {
			child[c.RecordID+"@"+p] = true
		}
	}
	out := map[string][]string{}
	for _, c := range changes {
		if !child[c.RecordID+"@"+c.Version] {
			out[c.RecordID] = append(out[c.RecordID], c.Version)
		}
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out
}

// TestOrderDoesNotMatter applies the same random histories in generation
// order and in shuffled orders (children before parents, across batches)
// and checks that every store ends with the same records and conflicts,
// and that the leaves match a model computed from the whole history.
func TestOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(seed, 42))
			changes := randomHistory(rng, 80)
			want := modelLeaves(changes)

			inOrder := mustOpenStore(t)
			mustApplyRemote(t, inOrder, "all", changes...)
			shuffled := mustOpenStore(t)
			perm := slices.Clone(changes)
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			for len(perm) > 0 { // in batches of 1-10, each applied twice
				k := min(len(perm), 1+rng.IntN(10))
				for range 2 {
					if res := mustApplyRemote(t, shuffled, "part", perm[:k]...); res.Rejected > 0 {
						t.Fatalf("rejected: %+v", res.Results)
					}
				}
				perm = perm[k:]
			}

			for rid, leaves := range want {
				a, err := inOrder.Record(ctx, "inspections", rid)
				if err != nil {
					t.Fatal(err)
				}
				b, err := shuffled.Record(ctx, "inspections", rid)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(a.Leaves, leaves) || !slices.Equal(b.Leaves, leaves) {
					t.Errorf("%s leaves: in order %v, shuffled %v, model %v", rid, a.Leaves, b.Leaves, leaves)
				}
				if a.Version != leaves[len(leaves)-1] || a.Version != b.Version || string(a.Doc) != string(b.Doc) || a.Deleted != b.Deleted {
					t.Errorf("%s winner: in order %s %s, shuffled %s %s", rid, a.Version, a.Doc, b.Version, b.Doc)
				}
				ca, errA := inOrder.Conflict(ctx, "inspections", rid)
				cb, errB := shuffled.Conflict(ctx, "inspections", rid)
				if (errA == nil) != (len(leaves) > 1) || (errB == nil) != (len(leaves) > 1) {
					t.Errorf("%s conflict presence: %v / %v with %d leaves", rid, errA, errB, len(leaves))
					continue
				}
				if errA != nil {
					continue
				}
				ancA, ancB := "", ""
				if ca.Ancestor != nil {
					ancA = ca.Ancestor.Version
				}
				if cb.Ancestor != nil {
					ancB = cb.Ancestor.Version
				}
				if ancA != ancB || !slices.Equal(leafVersions(ca.Leaves), leafVersions(cb.Leaves)) || len(ca.Missing)+len(cb.Missing) != 0 {
					t.Errorf("%s conflicts differ: ancestor %q/%q, missing %v/%v", rid, ancA, ancB, ca.Missing, cb.Missing)
				}
			}
			sa, _ := inOrder.Stats(ctx)
			sb, _ := shuffled.Stats(ctx)
			if sa.Conflicts != sb.Conflicts || sa.Collections["inspections"] != sb.Collections["inspections"] {
				t.Errorf("stats differ: %+v vs %+v", sa, sb)
			}
		})
	}
}
