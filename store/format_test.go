package store

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestNodeFormats: nodes written before schema 6 (format 1: the whole
// change as JSON) and after (format 2: short names, record and version
// from the key) read back as the same change.
func TestNodeFormats(t *testing.T) {
	t.Parallel()
	c := put("id1", "r\u00e91", ver(1000, "dev1"), `{"a":1}`, ver(900, "dev1"))
	tests := []struct {
		name string
		node versionNode
	}{
		{"change", versionNode{Change: &c, Children: []string{ver(1100, "dev2")}, Seq: 3, MSeq: 4}},
		{"no parents", versionNode{Change: func() *Change { d := c; d.Parents = nil; d.Author = ""; return &d }()}},
		{"placeholder", versionNode{Children: []string{ver(1100, "dev2")}}},
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "f.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := versionKey(c.RecordID, c.Version)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("v"))
				if err != nil {
					return err
				}
				// Format 2, as written now.
				if err := putNode(b, key, tt.node); err != nil {
					return err
				}
				var got versionNode
				if _, err := getNode(b, key, &got); err != nil {
					return err
				}
				if b.Get(key)[0] != nodeFormat {
					t.Errorf("written in format %d, want %d", b.Get(key)[0], nodeFormat)
				}
				if !reflect.DeepEqual(got, tt.node) {
					t.Errorf("format 2 read back %+v, want %+v", got, tt.node)
				}
				// Format 1, as written before schema 6.
				old := tt.node
				var doc []byte
				if old.Change != nil {
					oc := *old.Change
					doc, oc.Doc = oc.Doc, nil
					old.Change = &oc
				}
				hdr, err := json.Marshal(old)
				if err != nil {
					return err
				}
				raw := append(binary.AppendUvarint([]byte{nodeFormat1}, uint64(len(hdr))), hdr...)
				if err := b.Put(key, append(raw, doc...)); err != nil {
					return err
				}
				got = versionNode{}
				if _, err := getNode(b, key, &got); err != nil {
					return err
				}
				if !reflect.DeepEqual(got, tt.node) {
					t.Errorf("format 1 read back %+v, want %+v", got, tt.node)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRecordStateForms: a record whose only leaf is its winner is stored
// without the leaves; records stored with them (before schema 6) read the
// same.
func TestRecordStateForms(t *testing.T) {
	t.Parallel()
	v1, v2 := ver(1000, "dev1"), ver(1001, "dev2")
	for _, st := range []recordState{
		{Version: v1, ChangeID: "a", Leaves: []string{v1}, MSeq: 1},
		{Version: v2, ChangeID: "b", Leaves: []string{v1, v2}, MSeq: 2, LastSeq: 7},
	} {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var short map[string]any
		if err := json.Unmarshal(b, &short); err != nil {
			t.Fatal(err)
		}
		if _, has := short["leaves"]; has != (len(st.Leaves) > 1) {
			t.Errorf("%s: leaves stored = %v, want %v", b, has, len(st.Leaves) > 1)
		}
		old, err := json.Marshal(recordStateJSON(st)) // the form before schema 6
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range [][]byte{b, old} {
			var got recordState
			if err := decodeRecord(form, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, st) {
				t.Errorf("%s read back %+v, want %+v", form, got, st)
			}
		}
	}
}
