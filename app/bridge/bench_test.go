package bridge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/fieldsync/fieldsync/store"
)

// acceptFixture has the signature of app.UI.Accept, for the decode cost.
type acceptFixture struct{}

// Accept answers every change as accepted.
func (acceptFixture) Accept(cs []store.Change) (store.AppendResult, error) {
	return store.AppendResult{}, nil
}

// BenchmarkAcceptBody measures the bridge's own work on one UI.Accept call
// of 500 changes as the page's drain sends them (docs of ~220 bytes):
// decoding the body into []store.Change, and encoding the answer of 500
// results. Multiply by 20 for the 10,000 changes of scripts/browser-bench.sh.
func BenchmarkAcceptBody(b *testing.B) {
	const n = 500
	cs := make([]store.Change, n)
	res := store.AppendResult{Accepted: n}
	for i := range cs {
		id := fmt.Sprintf("%032x", i)
		cs[i] = store.Change{
			ChangeID: id, Collection: "inspections", RecordID: fmt.Sprintf("%032x", i+1<<40), Op: store.OpPut,
			Doc: json.RawMessage(fmt.Sprintf(`{"site":"North gate %d","inspector":"Ann Example","score":%d.5,"passed":true,`+
				`"category":"electrical","inspected_at":1700000%06d,"note":"Cable tray loose at the east end","crew":["crew %d"]}`, i, i%100, i, i%5)),
			Version: store.Version{WallMS: 1_700_000_000_000 + int64(i), Node: "dev1.ui0001"}.String(),
			Parents: []string{}, Device: "dev1", Author: "ann", EditedAt: 1_700_000_000_000,
		}
		res.Results = append(res.Results, store.ChangeResult{ChangeID: id, Outcome: store.Accepted, Seq: uint64(i + 1), MSeq: uint64(i + 1)})
	}
	body, err := json.Marshal([]any{cs})
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMethod("UI.Accept", reflect.ValueOf(acceptFixture{}).MethodByName("Accept"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			raw, err := decodeArgs(body)
			if err != nil {
				b.Fatal(err)
			}
			in, err := m.bind(raw)
			if err != nil {
				b.Fatal(err)
			}
			if got := in[0].Len(); got != n {
				b.Fatalf("decoded %d changes", got)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			writeJSON(w, http.StatusOK, struct {
				Result any `json:"result"`
			}{res})
			if w.Body.Len() == 0 {
				b.Fatal("nothing written")
			}
		}
	})
}
