package service

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

const refCaptureSchema = `{"collections":[
 {"name":"visits","fields":[{"name":"site","type":"text","required":true,"options_from":{"collection":"sites","field":"name"}}]},
 {"name":"sites","label":"the site list","reference":{"table":"dfs.ref.x","key":"id"},"fields":[{"name":"name","type":"text"}]}]}`

// TestCaptureReferenceChecks checks that capture refuses changes to a
// reference collection, and values of an options_from field that the
// pulled reference collection does not hold (any value before its first
// pull), through Put (import, the service) and Accept (the page) alike.
func TestCaptureReferenceChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "fieldsync.db"), &store.Options{DeviceID: "dev-a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	set, err := schema.Parse([]byte(refCaptureSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := &Capture{Journal: st, Schema: set, Author: "ann", Refs: st}
	if _, err := c.Put(ctx, "sites", "S1", json.RawMessage(`{"name":"North"}`)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("put into a reference collection = %v, want ErrReadOnly", err)
	}
	if _, err := c.Put(ctx, "visits", "", json.RawMessage(`{"site":"Anywhere"}`)); err != nil {
		t.Errorf("before the first pull any site is accepted: %v", err)
	}
	rows := []store.RefRow{{Key: "S1", Doc: json.RawMessage(`{"name":"North well"}`), Hash: "1"}}
	if err := st.ApplyRefs(ctx, "sites", rows, nil, []string{"name"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRefState(ctx, "sites", store.RefState{Source: "s", Fingerprint: "1:2:3", Indexed: []string{"name"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "visits", "", json.RawMessage(`{"site":"North well"}`)); err != nil {
		t.Errorf("a site of the list: %v", err)
	}
	_, err = c.Put(ctx, "visits", "", json.RawMessage(`{"site":"Nowhere"}`))
	if !errors.Is(err, schema.ErrInvalidRecord) || !strings.Contains(err.Error(), `site must be a name from the site list, not "Nowhere"`) {
		t.Errorf("a site not in the list = %v", err)
	}
	ch, err := c.Prepare(ctx, "visits", "", store.OpPut, json.RawMessage(`{"site":"North well"}`))
	if err != nil {
		t.Fatal(err)
	}
	bad := ch
	bad.ChangeID, bad.RecordID, bad.Doc = NewChangeID(), "r2", json.RawMessage(`{"site":"Nowhere"}`)
	ref := ch
	ref.ChangeID, ref.Collection, ref.RecordID, ref.Doc = NewChangeID(), "sites", "S9", json.RawMessage(`{"name":"x"}`)
	res, err := c.Accept(ctx, []store.Change{ch, bad, ref})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Rejected != 2 || !strings.Contains(res.Results[1].Reason, "Nowhere") || !strings.Contains(res.Results[2].Reason, "read-only") {
		t.Errorf("Accept = %+v", res)
	}
}
