package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/store"
)

// TestStoreStatsAndCompact: store stats tells the bytes of each bucket
// (text and --json); store compact gives free pages back and keeps every
// record.
func TestStoreStatsAndCompact(t *testing.T) {
	t.Parallel()
	d := offlineDevice(t, "stats")
	importN(t, d, 3000, "s")

	var rep store.SpaceReport
	if err := json.Unmarshal([]byte(d.must("", "store", "stats", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.BucketSpace{}
	var sum int64
	for _, b := range rep.Buckets {
		byName[b.Name] = b
		sum += b.Bytes
	}
	if rep.FileBytes <= 0 || sum > rep.FileBytes || byName["versions"].Keys < 3000 || byName["records"].Bytes == 0 || byName["journal"].Keys != 3000 {
		t.Errorf("store stats --json = %+v: want every bucket's keys and bytes within the file", rep)
	}
	if out := d.must("", "store", "stats"); !strings.Contains(out, "free pages") || !strings.Contains(out, "versions") {
		t.Errorf("store stats = %q: want the file's size, its free pages and a line per bucket", out)
	}

	var cr store.CompactReport
	if err := json.Unmarshal([]byte(d.must("", "store", "compact", "--json")), &cr); err != nil {
		t.Fatal(err)
	}
	if !cr.Compacted || cr.BytesAfter <= 0 || cr.BytesAfter >= cr.BytesBefore {
		t.Errorf("store compact --json = %+v: want a smaller file", cr)
	}
	if out := d.must("", "store", "compact"); !strings.HasPrefix(out, "compacted ") {
		t.Errorf("store compact = %q", out)
	}
	if got := len(filterPrefix(d.must("", "export", "--collection", "inspections"), "s")); got != 3000 {
		t.Errorf("%d records after compaction, want 3000", got)
	}
	if code, _, errs := d.run("", "store", "stats", "extra"); code != 2 || !strings.Contains(errs, "takes no arguments") {
		t.Errorf("store stats extra: exit %d, %q", code, errs)
	}
}
