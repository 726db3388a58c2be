package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

// importBatch is how many records one journal transaction takes on import.
const importBatch = 1000

func runImport(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "import")
	g.quiet = true
	collection := fs.String("collection", "", "collection `name` (required)")
	idField := fs.String("id-field", "id", "record field that holds the record id; records without it get a new id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *collection == "" || fs.NArg() != 1 {
		return fmt.Errorf("%w: import --collection NAME FILE.jsonl (FILE may be - for standard input)", errUsage)
	}
	in := env.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	}
	return withService(ctx, env, g, func(p *process) error {
		sum, err := importRecords(ctx, p.svc, *collection, *idField, in, env.Stderr)
		if g.json {
			_ = printJSON(env.Stdout, sum)
		} else {
			fmt.Fprintf(env.Stdout, "imported %d record(s), %d rejected, %d line(s) read\n", sum.Imported, sum.Rejected, sum.Lines)
		}
		if err != nil {
			return err
		}
		if sum.Rejected > 0 {
			return &ExitError{Code: 1, Err: fmt.Errorf("import: %d record(s) rejected (listed above); the others were imported", sum.Rejected)}
		}
		return nil
	})
}

type importSummary struct {
	Lines    int `json:"lines"`
	Imported int `json:"imported"`
	Rejected int `json:"rejected"`
}

// importRecords reads JSON lines and journals each record through the same
// checks as an edit in the app. A bad line is reported with its number and
// skipped; the others are imported.
func importRecords(ctx context.Context, svc *service.Service, collection, idField string, in io.Reader, report io.Writer) (importSummary, error) {
	var sum importSummary
	var batch []store.Change
	lineOf := map[string]int{} // change id -> line, for messages
	inBatch := map[string]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := svc.Accept(ctx, batch)
		if err != nil {
			return fmt.Errorf("import: line %d: %w", lineOf[batch[0].ChangeID], err)
		}
		for _, r := range res.Results {
			if r.Outcome == store.Rejected {
				sum.Rejected++
				fmt.Fprintf(report, "line %d: %s\n", lineOf[r.ChangeID], r.Reason)
				continue
			}
			sum.Imported++
		}
		batch, lineOf, inBatch = batch[:0], map[string]int{}, map[string]bool{}
		return nil
	}
	lines := newLineReader(in, store.MaxDocBytes+1024)
	for {
		raw, long, err := lines.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = flush()
			return sum, fmt.Errorf("import: line %d: %w", sum.Lines+1, err)
		}
		sum.Lines++
		if long {
			sum.Rejected++
			fmt.Fprintf(report, "line %d: longer than %d bytes (a record holds at most %d bytes): rejected\n", sum.Lines, store.MaxDocBytes+1024, store.MaxDocBytes)
			continue
		}
		line := bytes.TrimSpace(raw)
		if len(line) == 0 {
			continue
		}
		id, err := recordID(line, idField)
		if err == nil && inBatch[id] {
			// The same record twice: the second edit must see the first.
			if err := flush(); err != nil {
				return sum, err
			}
		}
		var ch store.Change
		if err == nil {
			ch, err = svc.Prepare(ctx, collection, id, store.OpPut, append(json.RawMessage(nil), line...))
		}
		if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			sum.Rejected++
			fmt.Fprintf(report, "line %d: %v\n", sum.Lines, err)
			continue
		}
		batch = append(batch, ch)
		lineOf[ch.ChangeID] = sum.Lines
		inBatch[ch.RecordID] = true
		if len(batch) >= importBatch {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	return sum, flush()
}

// lineReader reads lines of at most max bytes; a longer line is skipped
// to its end and reported as long, so one bad line never ends the input.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its newline; the slice is valid
// until the next call. It returns io.EOF after the last line.
func (l *lineReader) next() (line []byte, long bool, err error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !long {
			if len(l.buf)+len(chunk) > l.max+1 { // +1: the newline
				long, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(l.buf) == 0 && !long && len(chunk) == 0 {
				return nil, false, io.EOF
			}
			return l.buf, long, nil
		case err != nil:
			return nil, false, err
		}
		return bytes.TrimSuffix(l.buf, []byte("\n")), long, nil
	}
}

// recordID reads the id field of a JSON object line ("" when absent).
func recordID(line []byte, idField string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return "", fmt.Errorf("not a JSON object: %v", err)
	}
	raw, ok := obj[idField]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%q must be a string or number", idField)
}

func runExport(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "export")
	g.quiet = true
	collection := fs.String("collection", "", "collection `name` (required)")
	withMeta := fs.Bool("meta", false, "wrap each record with its id, version, device and sync state")
	idField := fs.String("id-field", "id", "field to put the record id in when the record lacks it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *collection == "" {
		return fmt.Errorf("%w: export --collection NAME", errUsage)
	}
	return withService(ctx, env, g, func(p *process) error {
		if _, err := p.svc.Schema().Collection(*collection); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		w := bufio.NewWriter(env.Stdout)
		defer w.Flush()
		page := store.Page{Limit: 1000}
		for {
			pg, err := p.svc.Store().Records(ctx, *collection, page)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			for _, r := range pg.Records {
				var line []byte
				if *withMeta {
					line, err = json.Marshal(r)
				} else {
					line, err = withID(r.Doc, *idField, r.ID)
				}
				if err != nil {
					return fmt.Errorf("export: record %s: %w", r.ID, err)
				}
				w.Write(line)
				w.WriteByte('\n')
			}
			if pg.Next == "" {
				return nil
			}
			page.After = pg.Next
		}
	})
}

// withID returns doc compacted, with idField set to id when doc lacks it,
// so that an export can be imported again onto the same records.
func withID(doc []byte, idField, id string) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
		return nil, err
	}
	if _, ok := obj[idField]; ok || idField == "" {
		return buf.Bytes(), nil
	}
	k, _ := json.Marshal(idField)
	v, _ := json.Marshal(id)
	out := append([]byte{'{'}, k...)
	out = append(out, ':')
	out = append(out, v...)
	if rest := buf.Bytes()[1:]; len(rest) > 1 {
		out = append(out, ',')
		out = append(out, rest...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}
