package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// memDrill stands in for a Drill cluster in this example; real code passes
// agent.DrillClient(client) for a *drill.Client.
type memDrill struct{ tables int }

func (m *memDrill) Query(_ context.Context, sql string) ([]agent.Row, error) {
	switch {
	case strings.HasPrefix(sql, "SELECT CURRENT_TIMESTAMP"):
		return []agent.Row{{"ms": json.Number(strconv.FormatInt(time.Now().UnixMilli(), 10))}}, nil
	case strings.HasPrefix(sql, "CREATE TABLE ") && strings.Contains(sql, "/changes/"):
		m.tables++ // a batch
		return nil, nil
	case strings.HasPrefix(sql, "SELECT `change_id` FROM"):
		return []agent.Row{{"change_id": "c1"}}, nil
	case strings.Contains(sql, "INFORMATION_SCHEMA"):
		return nil, nil
	}
	return nil, errors.New("VALIDATION ERROR: Object not found") // listings and views
}

func ExampleAgent_SyncNow() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "fieldsync-example-")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "fieldsync.db"), &store.Options{DeviceID: "laptop-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	set, _ := schema.Parse([]byte(`{"collections":[{"name":"inspections","fields":[{"name":"site","type":"text"}]}]}`))

	v, _ := st.NextVersion(ctx)
	_, _ = st.Append(ctx, []store.Change{{ChangeID: "c1", Collection: "inspections", RecordID: "R-1", Op: store.OpPut,
		Doc: json.RawMessage(`{"site":"Quay 3"}`), Version: v.String(), Device: "laptop-1"}})

	d := &memDrill{}
	ag, err := agent.New(agent.Options{Store: st, Drill: d, Schema: set})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := ag.SyncNow(ctx)
	fmt.Println(rep.Pushed, rep.Batches, d.tables, err)
	fmt.Println(ag.Status().State, ag.Status().Pending)
	// Output:
	// 1 1 1 <nil>
	// idle 0
}
