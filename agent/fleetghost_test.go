package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Ghost devices: the rest of a fleet, for measuring a real device's sync
// at a fleet size this machine cannot run as real devices (each real
// device is a store, an agent and a CTAS per sync; 1,000 of them every 10
// simulated minutes would take hours a simulated hour on 2 cores).
//
// A ghost writes, at its own jittered 10-minute schedule, one JSON batch
// of 1 to 3 changes straight into the workspace's file system: the file a
// device's JSON CTAS writes (store.format = json with null fields kept:
// one object per row, BIGINT columns as numbers, every column present),
// under a valid batch name in the hour partition of its time, with
// batch_rows set. Its changes create records of its own and edit them
// (parents: the record's last version), so they never conflict: the real
// devices' shared records make the conflicts. What a ghost does not do is
// ask Drill anything: its listing, its reads, its CTAS and its heartbeat
// are missing from the Drillbits' load (the simulation reports a real
// device's Drillbit CPU per sync, which says what 1,000 of them cost in
// all). Everything that reads the log — the real devices' pulls, the light
// and full compaction passes, the snapshot, the views — reads the ghosts'
// batches as it would real ones, and the simulation's end checks count
// them (every change once in the log, in _history and on every device).

// simGhost is one ghost device.
type simGhost struct {
	device  string
	offset  time.Duration
	seq     uint64            // journal sequence of its last change
	last    map[string]string // its records' last versions
	records []string          // in the order made
	clock   int64             // its HLC's wall time (ms), never backwards
	counter uint16
}

// newGhosts makes n ghosts at offsets of their own within every.
func (s *fleetSim) newGhosts(n int) {
	spread := s.cfg.spread
	if spread == 0 {
		spread = s.cfg.every
	}
	for i := range n {
		s.ghosts = append(s.ghosts, &simGhost{device: fmt.Sprintf("ghost%04d", i),
			offset: time.Duration(s.rng.Int64N(int64(spread))), last: map[string]string{}})
	}
}

// ghostEvents returns a day's ghost batches (dev ghostEvent, g the ghost),
// at the same schedule as the devices' syncs.
func (s *fleetSim) ghostEvents(from time.Time, active time.Duration) []simEvent {
	var ev []simEvent
	for i, g := range s.ghosts {
		for t := time.Duration(0); t < active; t += s.cfg.every {
			at := t + g.offset
			if s.cfg.jitter > 0 {
				at += time.Duration(s.rng.Int64N(int64(2*s.cfg.jitter))) - s.cfg.jitter
			}
			ev = append(ev, simEvent{at: from.Add(max(at, 0)), dev: ghostEvent, g: i})
		}
	}
	return ev
}

// ghostEvent is the dev of a ghost's batch in a simEvent.
const ghostEvent = -3

// writeGhost writes one batch of ghost g at Drill's simulated time and
// returns its changes.
func (s *fleetSim) writeGhost(g *simGhost, day int) int {
	s.tb.Helper()
	nowMS := s.drillCk.Now().UnixMilli()
	cols, decl := s.devs[0].n.ag.columns(s.coll)
	n := 1 + s.rng.IntN(3)
	first := g.seq + 1
	var body bytes.Buffer
	for range n {
		g.seq++
		id := ""
		if len(g.records) == 0 || s.rng.IntN(3) == 0 {
			id = fmt.Sprintf("%s-%d", g.device, len(g.records)+1)
			g.records = append(g.records, id)
		} else {
			id = g.records[s.rng.IntN(len(g.records))]
		}
		if nowMS > g.clock {
			g.clock, g.counter = nowMS, 0
		} else {
			g.counter++
		}
		v := store.Version{WallMS: g.clock, Counter: g.counter, Node: g.device}.String()
		var parents []string
		if p, ok := g.last[id]; ok {
			parents = []string{p}
		}
		g.last[id] = v
		c := store.Change{ChangeID: fmt.Sprintf("%016x%016x", s.rng.Uint64(), s.rng.Uint64()), Collection: s.coll,
			RecordID: id, Op: store.OpPut, Version: v, Parents: parents, Device: g.device, Author: g.device,
			EditedAt: nowMS, Doc: json.RawMessage(fmt.Sprintf(`{"site":"%s day %d","n":%d}`, g.device, day+1, g.seq))}
		row, err := ghostRow(cols, decl, c, n)
		if err != nil {
			s.tb.Fatalf("ghost %s: %v", g.device, err)
		}
		body.Write(row)
		body.WriteByte('\n')
	}
	name := batchName(nowMS, g.device, first)
	if err := s.fs.writeFile(s.coll+"/changes/"+batchPath(name)+"/0_0_0.json", body.Bytes()); err != nil {
		s.tb.Fatalf("ghost %s: %v", g.device, err)
	}
	return n
}

// ghostRow is a change's row as Drill's JSON writer writes it: an object
// of every column, in order, nulls kept, BIGINT and DOUBLE columns as
// numbers, BOOLEAN as true/false, the rest as strings.
func ghostRow(cols []schema.Column, decl *schema.Collection, c store.Change, batchRows int) ([]byte, error) {
	pj, err := json.Marshal(c.Parents)
	if err != nil {
		return nil, err
	}
	if c.Parents == nil {
		pj = []byte("[]")
	}
	doc, err := schema.DecodeDoc(c.Doc)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, col := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(col.Name)
		b.Write(k)
		b.WriteByte(':')
		var v any
		switch col.Name {
		case "change_id":
			v = c.ChangeID
		case "record_id":
			v = c.RecordID
		case "op":
			v = string(c.Op)
		case "version":
			v = c.Version
		case "parents":
			v = string(pj)
		case "device":
			v = c.Device
		case "author":
			v = c.Author
		case "edited_at":
			v = c.EditedAt
		case "batch_rows":
			v = batchRows
		case schema.ResolutionColumn:
			v = nil
		case schema.DocColumn:
			v = string(c.Doc)
		default:
			f, ok := decl.Field(col.Field)
			if !ok {
				return nil, fmt.Errorf("column %s: no declared field %q", col.Name, col.Field)
			}
			text, ok := f.ColumnText(doc[f.Name])
			switch {
			case !ok:
				v = nil
			case col.Type == schema.SQLBigInt || col.Type == schema.SQLDouble || col.Type == schema.SQLBoolean:
				v = json.RawMessage(text)
			default:
				v = text
			}
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", col.Name, err)
		}
		b.Write(raw)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeFile writes a file under the workspace, its directories made.
func (l localFS) writeFile(rel string, data []byte) error {
	p := l.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// writeFile creates a file on HDFS through WebHDFS: the NameNode answers
// CREATE with the DataNode to send the data to.
func (h *hdfsFS) writeFile(rel string, data []byte) error {
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	url := h.base + "/webhdfs/v1" + path.Join(h.root, rel) + "?op=CREATE&overwrite=false&user.name=" + hdfsUser()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, url, nil)
	if err != nil {
		return err
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		return fmt.Errorf("WebHDFS CREATE %s: %w", rel, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || loc == "" {
		return fmt.Errorf("WebHDFS CREATE %s: %s, no DataNode named", rel, resp.Status)
	}
	req, err = http.NewRequestWithContext(context.Background(), http.MethodPut, loc, bytes.NewReader(data))
	if err != nil {
		return err
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("WebHDFS CREATE %s at the DataNode: %w", rel, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("WebHDFS CREATE %s at the DataNode: %s", rel, resp.Status)
	}
	return nil
}

// TestGhostRow: a ghost's row has every column in order, numbers as
// numbers, nulls kept, and decodes as the pull decodes a row.
func TestGhostRow(t *testing.T) {
	set, err := schema.Parse([]byte(`{"collections":[{"name":"c","policy":"lww","fields":[` +
		`{"name":"site","type":"text","required":true},{"name":"n","type":"integer"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	decl, err := set.Collection("c")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		parents []string
		doc     string
		want    []string // substrings of the row
	}{
		{"new record", nil, `{"site":"a","n":7}`, []string{`"parents":"[]"`, `"batch_rows":2`, `"n":7`, `"site":"a"`, `"fieldsync_resolution":null`}},
		{"edit", []string{"000000000000001-0000-g"}, `{"site":"b"}`, []string{`"parents":"[\"000000000000001-0000-g\"]"`, `"n":null`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := store.Change{ChangeID: "0123456789abcdef0123456789abcdef", Collection: "c", RecordID: "r1", Op: store.OpPut,
				Version: "000000000000002-0000-g", Parents: tt.parents, Device: "g", Author: "g", EditedAt: 2, Doc: json.RawMessage(tt.doc)}
			raw, err := ghostRow(decl.Columns(), decl, c, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(raw), w) {
					t.Errorf("row %s lacks %s", raw, w)
				}
			}
			var r Row
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			if len(r) != len(decl.Columns()) {
				t.Errorf("row has %d columns, want %d", len(r), len(decl.Columns()))
			}
			got, n, err := decodeRow("c", r)
			if err != nil || n != 2 || got.Version != c.Version || len(got.Parents) != len(tt.parents) || string(got.Doc) != tt.doc {
				t.Errorf("decodeRow = %+v, %d, %v", got, n, err)
			}
		})
	}
}
