package agent

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// The crash child: a process that appends changes and pushes them in a
// loop until it is killed. Its environment says where.
const (
	envCrashStore = "FIELDSYNC_CRASH_STORE"
	envCrashDrill = "FIELDSYNC_CRASH_DRILL"
	envCrashColl  = "FIELDSYNC_CRASH_COLLECTION"
)

// crashChild runs when the test binary is started as a crash child. It
// prints "ack <change id>" for every change the store acknowledged.
func crashChild() {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	st, err := store.Open(ctx, os.Getenv(envCrashStore), &store.Options{DeviceID: "crashdev", Timeout: 10 * time.Second})
	if err != nil {
		fail(err)
	}
	coll := os.Getenv(envCrashColl)
	set, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[{"name":"n","type":"integer"}]}]}`))
	if err != nil {
		fail(err)
	}
	c, err := drill.New(drill.Options{Endpoints: []string{os.Getenv(envCrashDrill)}})
	if err != nil {
		fail(err)
	}
	ag, err := New(Options{Store: st, Drill: DrillClient(c), Schema: set, BatchRows: 3})
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		var changes []store.Change
		for j := range 4 {
			v, err := st.NextVersion(ctx)
			if err != nil {
				fail(err)
			}
			id := fmt.Sprintf("%d-%d-%d", os.Getpid(), i, j)
			changes = append(changes, store.Change{ChangeID: id, Collection: coll, RecordID: id, Op: store.OpPut,
				Doc: []byte(fmt.Sprintf(`{"n":%d}`, j)), Version: v.String(), Device: "crashdev", EditedAt: time.Now().UnixMilli()})
		}
		res, err := st.Append(ctx, changes)
		if err != nil {
			fail(err)
		}
		for _, id := range res.Acked() {
			fmt.Fprintln(out, "ack", id)
		}
		out.Flush()
		_, _ = ag.SyncNow(ctx) // failures are retried by the next round
	}
}

func TestIntegrationCrashDuringPush(t *testing.T) {
	t.Parallel()
	url := drilltest.URL(t)
	coll := fmt.Sprintf("it%d_%d_crash", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	acked := map[string]bool{}
	const kills = 12
	midPush := 0
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCrashStore+"="+path, envCrashDrill+"="+url, envCrashColl+"="+coll)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if id, ok := strings.CutPrefix(l, "ack "); ok {
					acked[id] = true
				}
			case <-deadline:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				deadline = nil
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: the child ended by itself: %v", k, err)
		}
		if st, err := store.Open(context.Background(), path, &store.Options{DeviceID: "crashdev"}); err == nil {
			if stats, err := st.Stats(context.Background()); err == nil && stats.OpenBatch > 0 {
				midPush++
			}
			_ = st.Close()
		}
	}
	if len(acked) == 0 {
		t.Fatal("the child acknowledged nothing")
	}
	// Recover: this process opens the store and syncs until clean.
	ctx := context.Background()
	st, err := store.Open(ctx, path, &store.Options{DeviceID: "crashdev", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	set, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[{"name":"n","type":"integer"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d := realDrill(t)
	ag, err := New(Options{Store: st, Drill: d, Schema: set})
	if err != nil {
		t.Fatal(err)
	}
	// A killed child's last CTAS can still be running in Drill (a client
	// that goes away does not cancel its query): the first sync may then
	// find the batch's file half made ("already exists on file system")
	// and fail, as a device's scheduled sync would, to verify the batch on
	// the next one. So the restarted device gets a few syncs, like the
	// schedule gives it; what must hold is checked after them.
	var err2 error
	for try := range 4 {
		if _, err2 = ag.SyncNow(ctx); err2 == nil {
			break
		}
		t.Logf("sync %d after the crashes failed (a killed child's CTAS may still run in Drill): %v", try+1, err2)
		time.Sleep(2 * time.Second)
	}
	if err2 != nil {
		t.Fatalf("sync after the crashes: %v", err2)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pending != 0 || stats.OpenBatch != 0 {
		t.Errorf("after recovery: pending %d, open batches %d", stats.Pending, stats.OpenBatch)
	}
	stored := int(stats.Collections[coll].Live)
	if stored < len(acked) {
		t.Errorf("the store holds %d changes, fewer than the %d acknowledged", stored, len(acked))
	}
	assertExactlyOnceSQL(t, d, coll, stored)
	rows, err := d.Query(ctx, fmt.Sprintf("SELECT `change_id` FROM `dfs`.`fieldsync`.`%s/changes`", coll))
	if err != nil {
		t.Fatal(err)
	}
	inDrill := map[string]bool{}
	for _, r := range rows {
		inDrill[r["change_id"].(string)] = true
	}
	for id := range acked {
		if !inDrill[id] {
			t.Errorf("acknowledged change %s is not in Drill", id)
		}
	}
	t.Logf("%d kills (%d left a batch open), %d changes acknowledged, %d stored, %d rows in Drill", kills, midPush, len(acked), stored, len(rows))
}
