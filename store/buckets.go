package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket names under the versioned root (see doc.go for the tree). They are
// strings so that no package variable can be changed; convert at use.
const (
	bRoot      = "v1"
	bMeta      = "meta"
	bRecords   = "records"
	bVersions  = "versions"
	bMirror    = "mirror"
	bJournal   = "journal"
	bChangeIDs = "changeids"
	bBatches   = "batches"
	bSeen      = "seen"
	bConflicts = "conflicts"
	bAudit     = "audit"
	bCounts    = "counts"
	bAuditRec  = "auditrec"
	// since schema 6
	bQuarantine = "quarantine"
	bPullRetry  = "pullretry"
	// since schema 5
	bRefRows = "refrows"
	bRefIdx  = "refidx"
	bRefMeta = "refmeta"
)

// Keys in the meta bucket.
const (
	keySchema      = "schema_version"
	keyDevice      = "device_id"
	keyHLC         = "hlc"
	keyHLCCeiling  = "hlc_ceiling"
	keyPushCursor  = "push_cursor"
	keyBatchSeq    = "batch_seq"
	keyWatermark   = "watermark/" // + collection
	keyMirrorFloor = "mirror_floor"
	keyAuditRecAt  = "auditrec_next" // migration 3's progress: first audit seq not yet indexed
	keySyncRecord  = "sync_record"   // the outcome of the last sync (JSON SyncRecord)
	keyViewMark    = "viewmark/"     // + Drill cluster, workspace and view set (JSON ViewMark)
	// keyQuarantineDropped counts quarantined items dropped past MaxQuarantined.
	keyQuarantineDropped = "quarantine_dropped"
)

// v1Buckets lists the top-level buckets of the v1 tree.
func v1Buckets() []string {
	return []string{bMeta, bRecords, bVersions, bMirror, bJournal, bChangeIDs, bBatches, bSeen, bConflicts, bAudit}
}

// bucket returns the named bucket under the root. The buckets exist once
// migrations ran, so a nil result is a programming error.
func bucket(tx *bolt.Tx, name string) *bolt.Bucket {
	root := tx.Bucket([]byte(bRoot))
	if root == nil {
		panic("store: root bucket missing (migrations not applied)")
	}
	b := root.Bucket([]byte(name))
	if b == nil {
		panic("store: bucket " + name + " missing (migrations not applied)")
	}
	switch name {
	case bJournal, bMirror, bAudit:
		// Keys only ever grow at the end: bbolt's default splits leave every
		// page half empty, which doubled these buckets' share of the file.
		b.FillPercent = appendFill
	}
	return b
}

// appendFill is how full bbolt fills a page of a bucket whose keys only
// grow at the end before it starts the next one (bbolt's default is 0.5).
// Not 1.0: a journal entry grows by its batch name when it is planned.
const appendFill = 0.9

// sub returns the per-collection bucket below the named top-level bucket,
// creating it in a writable transaction. In a read-only transaction it
// returns nil when the collection has no bucket yet.
func sub(tx *bolt.Tx, name, collection string) (*bolt.Bucket, error) {
	b := bucket(tx, name)
	if !tx.Writable() {
		return b.Bucket([]byte(collection)), nil
	}
	c, err := b.CreateBucketIfNotExists([]byte(collection))
	if err != nil {
		return nil, fmt.Errorf("bucket %s/%s: %w", name, collection, err)
	}
	return c, nil
}

// utob encodes v as an 8-byte big-endian key, so cursor order is numeric order.
func utob(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// btou decodes an 8-byte big-endian key.
func btou(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// getJSON decodes the value stored under key into v; found is false when
// the key is absent. The value is copied out by the decoder.
func getJSON(b *bolt.Bucket, key []byte, v any) (found bool, err error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

// putJSON encodes v and stores it under key.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put(key, raw)
}

// versionKey is the key of one node of a record's version graph inside the
// collection's versions bucket: record id, a zero byte (never part of an id),
// then the version text.
func versionKey(recordID, version string) []byte {
	k := make([]byte, 0, len(recordID)+1+len(version))
	k = append(k, recordID...)
	k = append(k, 0)
	return append(k, version...)
}

// auditRecPrefix is the start of every auditrec/ key of one record: the
// collection and the record id, each preceded by its length as a uvarint.
// A uvarint is prefix-free and the length fixes where each part ends, so
// no other (collection, record id) pair can produce a key that starts with
// this prefix: "a" and "ab", or collections "c" and "c2", never share one,
// whatever bytes the ids hold.
func auditRecPrefix(collection, recordID string) []byte {
	k := make([]byte, 0, 2*binary.MaxVarintLen64+len(collection)+len(recordID)+8)
	k = binary.AppendUvarint(k, uint64(len(collection)))
	k = append(k, collection...)
	k = binary.AppendUvarint(k, uint64(len(recordID)))
	return append(k, recordID...)
}

// auditRecKey is the auditrec/ key of audit entry seq about a record: its
// prefix then the seq (u64), so a record's entries sort by seq.
func auditRecKey(collection, recordID string, seq uint64) []byte {
	return append(auditRecPrefix(collection, recordID), utob(seq)...)
}

// Node formats: the first byte of an encoded version node. Format 1 has
// the node as JSON with the change's long field names; format 2 (schema 6)
// has nodeHeader2: short names, and no record id or version, which are the
// node's key. Both are read; format 2 is written whenever the key is the
// change's own.
const (
	nodeFormat1 = 1
	nodeFormat  = 2
)

// nodeHeader2 is the JSON header of a format-2 node.
type nodeHeader2 struct {
	Change   *changeHeader2 `json:"c,omitempty"`
	Children []string       `json:"k,omitempty"`
	Seq      uint64         `json:"s,omitempty"`
	MSeq     uint64         `json:"m,omitempty"`
}

// changeHeader2 is a change in a format-2 node header, without what the key
// and the doc bytes hold.
type changeHeader2 struct {
	ChangeID   string   `json:"i"`
	Collection string   `json:"c"`
	Op         Op       `json:"o"`
	Parents    []string `json:"p"`
	Device     string   `json:"d"`
	Author     string   `json:"a,omitempty"`
	EditedAt   int64    `json:"t"`
	// Resolution is a resolution change's audit entry (Change.Resolution).
	Resolution *Resolution `json:"r,omitempty"`
}

// putNode stores a version node as: format byte, uvarint length of a JSON
// header (the node with the change's doc left out), the header, then the
// doc bytes exactly as given. Keeping the doc out of JSON spares re-encoding
// (and compacting) it on every write and read.
func putNode(b *bolt.Bucket, key []byte, n versionNode) error {
	var doc []byte
	format := byte(nodeFormat)
	var hdr []byte
	var err error
	if n.Change != nil && !bytes.Equal(key, versionKey(n.Change.RecordID, n.Change.Version)) {
		format = nodeFormat1 // the key does not tell the record and version
		c := *n.Change
		doc, c.Doc = c.Doc, nil
		n.Change = &c
		hdr, err = json.Marshal(n)
	} else {
		h := nodeHeader2{Children: n.Children, Seq: n.Seq, MSeq: n.MSeq}
		if c := n.Change; c != nil {
			doc = c.Doc
			h.Change = &changeHeader2{ChangeID: c.ChangeID, Collection: c.Collection, Op: c.Op,
				Parents: c.Parents, Device: c.Device, Author: c.Author, EditedAt: c.EditedAt, Resolution: c.Resolution}
		}
		hdr, err = json.Marshal(h)
	}
	if err != nil {
		return fmt.Errorf("encode node %q: %w", key, err)
	}
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(hdr)+len(doc))
	buf = append(buf, format)
	buf = binary.AppendUvarint(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	buf = append(buf, doc...)
	return b.Put(key, buf)
}

// getNode decodes the version node stored under key into n, copying every
// byte out of bbolt's memory; found is false when the key is absent.
func getNode(b *bolt.Bucket, key []byte, n *versionNode) (found bool, err error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, decodeNode(key, raw, n)
}

// decodeNode decodes an encoded version node (see putNode) into n.
func decodeNode(key, raw []byte, n *versionNode) error {
	if len(raw) < 2 || (raw[0] != nodeFormat && raw[0] != nodeFormat1) {
		return fmt.Errorf("decode node %q: unknown format", key)
	}
	l, k := binary.Uvarint(raw[1:])
	if k <= 0 || uint64(len(raw)-1-k) < l {
		return fmt.Errorf("decode node %q: bad header length", key)
	}
	hdr, doc := raw[1+k:1+k+int(l)], raw[1+k+int(l):]
	if raw[0] == nodeFormat1 {
		if err := json.Unmarshal(hdr, n); err != nil {
			return fmt.Errorf("decode node %q: %w", key, err)
		}
	} else {
		var h nodeHeader2
		if err := json.Unmarshal(hdr, &h); err != nil {
			return fmt.Errorf("decode node %q: %w", key, err)
		}
		*n = versionNode{Children: h.Children, Seq: h.Seq, MSeq: h.MSeq}
		if c := h.Change; c != nil {
			id, version, ok := bytes.Cut(key, []byte{0})
			if !ok {
				return fmt.Errorf("decode node %q: the key names no version", key)
			}
			n.Change = &Change{ChangeID: c.ChangeID, Collection: c.Collection, RecordID: string(id), Op: c.Op,
				Version: string(version), Parents: c.Parents, Device: c.Device, Author: c.Author, EditedAt: c.EditedAt,
				Resolution: c.Resolution}
		}
	}
	if n.Change != nil && len(doc) > 0 {
		n.Change.Doc = append(json.RawMessage(nil), doc...)
	}
	return nil
}
