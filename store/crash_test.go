package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashKeepsEveryAcknowledgedChange kills a child process that appends
// in a loop from several goroutines at once (so commits are group commits,
// and a kill lands mid-group) at random moments and checks, after each
// kill, that every change and audit entry the child saw acknowledged is
// stored exactly once, that the audit index matches the audit log, and
// that the file is consistent.
func TestCrashKeepsEveryAcknowledgedChange(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[string]bool{}
	const rounds = 20
	for round := range rounds {
		cmd := helperCommand(t, "crash", path, fmt.Sprintf("k%d", round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			lines []string
			done  = make(chan struct{})
		)
		go func() {
			defer close(done)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // a line cut by the kill has no newline: not acknowledged
				}
				mu.Lock()
				lines = append(lines, strings.TrimSuffix(line, "\n"))
				mu.Unlock()
			}
		}()
		time.Sleep(time.Duration(5+rng.IntN(196)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatalf("round %d: kill: %v", round, err)
		}
		<-done
		_ = cmd.Wait()
		for _, l := range lines {
			acked[l] = true
		}
		checkAfterCrash(t, path, acked)
		if t.Failed() {
			t.Fatalf("round %d: store lost or duplicated acknowledged changes", round)
		}
	}
	audits := 0
	for l := range acked {
		if strings.HasPrefix(l, auditAck) {
			audits++
		}
	}
	if len(acked) == audits || audits == 0 {
		t.Fatalf("the child got %d changes and %d audit entries acknowledged; the test proves nothing", len(acked)-audits, audits)
	}
	t.Logf("%d rounds, %d acknowledged changes and %d audit entries, all present exactly once", rounds, len(acked)-audits, audits)
}

// checkAfterCrash reopens the store and checks it against acked.
func checkAfterCrash(t *testing.T, path string, acked map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, &Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	checkConsistent(t, s.db)
	entries, err := s.Pending(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Errorf("journal entry %d has seq %d: seqs are not contiguous", i, e.Seq)
		}
		if seen[e.Change.ChangeID] {
			t.Errorf("change %s is in the journal twice", e.Change.ChangeID)
		}
		seen[e.Change.ChangeID] = true
	}
	for id := range acked {
		if rest, ok := strings.CutPrefix(id, auditAck); ok {
			checkAckedAudit(t, s, rest)
			continue
		}
		if !seen[id] {
			t.Errorf("acknowledged change %s is missing", id)
		}
	}
	checkAuditIndex(t, s.db)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq != uint64(len(entries)) {
		t.Errorf("journal sequence %d, but %d entries", st.LastSeq, len(entries))
	}
	var live int64
	for _, c := range st.Collections {
		live += c.Live + c.Deleted
	}
	page, err := s.Records(ctx, "inspections", Page{Limit: 1 << 30, IncludeDeleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if live != int64(len(page.Records)) {
		t.Errorf("counts say %d records, the mirror has %d", live, len(page.Records))
	}
}

// auditAck starts the line the crash child prints for an acknowledged
// audit entry: auditAck, the record id, a space, the seq.
const auditAck = "audit:"

// checkAckedAudit checks that the audit entry of an acknowledgement line
// (without its auditAck prefix) is listed, once, by AuditOf of its record.
func checkAckedAudit(t *testing.T, s *Store, line string) {
	t.Helper()
	rid, seq, _ := strings.Cut(line, " ")
	n := 0
	for _, got := range auditSeqs(t, s, "inspections", rid) {
		if fmt.Sprint(got) == seq {
			n++
		}
	}
	if n != 1 {
		t.Errorf("acknowledged audit entry %s of %s is listed %d times by AuditOf", seq, rid, n)
	}
}

// helperCrash appends batches in a loop (creates and edits, now and then a
// re-sent old change, maybe one another writer sent), and now and then an
// audit entry about one of the records, and prints each acknowledged change
// id (and audit entry) after Append (AppendAudit) returns, until it is
// killed. crashWriters goroutines do so at once, so most commits are group
// commits of several callers: a kill lands mid-group as often as not.
func helperCrash(path string) error {
	prefix := os.Args[len(os.Args)-1]
	ctx := context.Background()
	s, err := Open(ctx, path, &Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	out := &crashOut{w: bufio.NewWriter(os.Stdout)}
	errs := make(chan error, crashWriters)
	for g := range crashWriters {
		go func() { errs <- crashWriter(ctx, s, fmt.Sprintf("%s-g%d", prefix, g), out) }()
	}
	return <-errs // a writer ends only on an error; the kill ends the others
}

// crashWriters is how many goroutines of the crash child append at once.
const crashWriters = 3

// crashOut is the crash child's standard output and the changes it sent,
// shared by its writers.
type crashOut struct {
	mu   sync.Mutex
	w    *bufio.Writer
	sent []Change
}

// ack prints lines, each an acknowledgement, and remembers sent.
func (o *crashOut) ack(lines []string, sent []Change) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintln(o.w, l)
	}
	o.sent = append(o.sent, sent...)
	return o.w.Flush()
}

// old returns a change sent before by any writer, if there is one.
func (o *crashOut) old(rng *rand.Rand) (Change, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.sent) == 0 {
		return Change{}, false
	}
	return o.sent[rng.IntN(len(o.sent))], true
}

// crashWriter is one writer of helperCrash: its records are prefix-rN.
func crashWriter(ctx context.Context, s *Store, prefix string, out *crashOut) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	heads := map[string]string{} // record id -> last version
	for n := 0; ; {
		batch := make([]Change, 1+rng.IntN(40))
		for i := range batch {
			if rng.IntN(20) == 0 {
				if c, ok := out.old(rng); ok {
					batch[i] = c
					continue
				}
			}
			n++
			v, err := s.NextVersion(ctx)
			if err != nil {
				return err
			}
			rid := fmt.Sprintf("%s-r%d", prefix, rng.IntN(50))
			var parents []string
			if h, ok := heads[rid]; ok {
				parents = []string{h}
			}
			heads[rid] = v.String()
			batch[i] = Change{
				ChangeID: fmt.Sprintf("%s-%d", prefix, n), Collection: "inspections", RecordID: rid,
				Op: OpPut, Doc: []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", rng.IntN(2000)))),
				Version: v.String(), Parents: parents, Device: s.DeviceID(), EditedAt: v.WallMS,
			}
		}
		res, err := s.Append(ctx, batch)
		if err != nil {
			return err
		}
		lines := make([]string, 0, len(res.Results)+1)
		for _, r := range res.Results {
			if r.Outcome == Rejected {
				return fmt.Errorf("change %s rejected: %v", r.ChangeID, r.Err)
			}
			lines = append(lines, r.ChangeID)
		}
		if rng.IntN(3) == 0 {
			rid := fmt.Sprintf("%s-r%d", prefix, rng.IntN(50))
			seq, err := s.AppendAudit(ctx, AuditEntry{Actor: "crash", Action: "note", Collection: "inspections", RecordID: rid})
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s%s %d", auditAck, rid, seq))
		}
		if err := out.ack(lines, batch); err != nil {
			return err
		}
	}
}
