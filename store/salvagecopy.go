package store

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// What Salvage copies, bucket by bucket, and how it rebuilds what it
// derives (counts, the audit index, cursors) from what it copied.

// run copies everything, in an order where each step can check what the
// previous ones copied: versions, then records, journal, mirror and the
// rest; then rebuilds counts and the audit index.
func (sv *salvager) run(meta map[string][]byte) error {
	if err := sv.copyMeta(meta); err != nil {
		return err
	}
	if err := sv.copyVersions(); err != nil {
		return err
	}
	if err := sv.copyRecords(); err != nil {
		return err
	}
	if err := sv.copyRefs(bJournal, &sv.rep.Copied.Journal, &sv.rep.Lost.Journal); err != nil {
		return err
	}
	var mirrorCopied, mirrorLost int
	if err := sv.copyRefs(bMirror, &mirrorCopied, &mirrorLost); err != nil {
		return err
	}
	sv.rep.Copied.Other += mirrorCopied
	sv.rep.Lost.Other += mirrorLost
	if err := sv.copyFlat(bChangeIDs, func(v []byte) error { var r changeRef; return json.Unmarshal(v, &r) }); err != nil {
		return err
	}
	if err := sv.copyBatches(); err != nil {
		return err
	}
	for _, name := range []string{bSeen, bConflicts, bPullRetry} {
		if err := sv.copyNested(name); err != nil {
			return err
		}
	}
	// The quarantine: what was set aside stays set aside (and a batch that
	// waits to be read again keeps waiting), and new items follow its ids.
	if err := sv.copyFlat(bQuarantine, func(v []byte) error { var q Quarantined; return json.Unmarshal(v, &q) }); err != nil {
		return err
	}
	if err := sv.put(fixQuarantineSequence); err != nil {
		return err
	}
	if err := sv.copyAudit(); err != nil {
		return err
	}
	// A lost entry held the push cursor back; those after it that are in
	// verified batches are pushed.
	return sv.put(advanceCursor)
}

// copyMeta copies the clock, cursors, watermarks and mirror floor.
func (sv *salvager) copyMeta(meta map[string][]byte) error {
	return sv.put(func(tx *bolt.Tx) error {
		mb := bucket(tx, bMeta)
		for k, v := range meta {
			switch {
			case k == keySchema || k == keyDevice || k == keyAuditRecAt || v == nil:
				continue
			}
			if err := mb.Put([]byte(k), v); err != nil {
				return err
			}
			sv.rep.Copied.Other++
		}
		return nil
	})
}

// copyNested copies each per-collection bucket of name, keeping values that
// are JSON (seen batches, conflicts).
func (sv *salvager) copyNested(name string) error {
	for _, coll := range sv.subBuckets(name) {
		var batch []pair
		sv.scan([]string{name, coll}, func(k, v []byte) bool {
			if v == nil || !json.Valid(v) {
				*counter(&sv.rep.Lost, name)++
				return false
			}
			batch = append(batch, pair{k, v})
			return true
		}, false)
		err := sv.put(func(tx *bolt.Tx) error {
			b, err := sub(tx, name, coll)
			if err != nil {
				return err
			}
			for _, p := range batch {
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
				*counter(&sv.rep.Copied, name)++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// copyFlat copies a flat bucket, keeping values that pass valid.
func (sv *salvager) copyFlat(name string, valid func(v []byte) error) error {
	var batch []pair
	sv.scan([]string{name}, func(k, v []byte) bool {
		if v == nil || valid(v) != nil {
			sv.rep.Lost.Other++
			return false
		}
		batch = append(batch, pair{k, v})
		return true
	}, false)
	return sv.put(func(tx *bolt.Tx) error {
		b := bucket(tx, name)
		for _, p := range batch {
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
			sv.rep.Copied.Other++
		}
		return nil
	})
}

// copyChunks scans the bucket at path and hands its pairs to write, one
// transaction of the new store per salvageChunk pairs.
func (sv *salvager) copyChunks(path []string, seqKeys bool, write func(tx *bolt.Tx, pairs []pair) error) error {
	var batch []pair
	var err error
	flush := func() {
		if err == nil && len(batch) > 0 {
			err = sv.put(func(tx *bolt.Tx) error { return write(tx, batch) })
		}
		batch = batch[:0]
	}
	sv.scan(path, func(k, v []byte) bool {
		batch = append(batch, pair{k, v})
		if len(batch) >= salvageChunk {
			flush()
		}
		return true
	}, seqKeys)
	flush()
	return err
}

// copyVersions copies every version node that decodes.
func (sv *salvager) copyVersions() error {
	for _, coll := range sv.subBuckets(bVersions) {
		err := sv.copyChunks([]string{bVersions, coll}, false, func(tx *bolt.Tx, pairs []pair) error {
			b, err := sub(tx, bVersions, coll)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				var n versionNode
				if p.v == nil || decodeNode(p.k, p.v, &n) != nil {
					sv.rep.Lost.Versions++
					continue
				}
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
				sv.rep.Copied.Versions++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// hasChange reports whether the new store holds the change of a version
// node.
func hasChange(tx *bolt.Tx, collection, recordID, version string) bool {
	vb, _ := sub(tx, bVersions, collection)
	var n versionNode
	found, err := getNode(vb, versionKey(recordID, version), &n)
	return found && err == nil && n.Change != nil
}

// copyRecords copies every record that decodes and whose leaves are all in
// the new store, and counts live and deleted ones.
func (sv *salvager) copyRecords() error {
	for _, coll := range sv.subBuckets(bRecords) {
		var batch []pair
		sv.scan([]string{bRecords, coll}, func(k, v []byte) bool {
			var st recordState
			if v == nil || decodeRecord(v, &st) != nil {
				sv.rep.Lost.Records++
				return false
			}
			batch = append(batch, pair{k, v})
			return true
		}, false)
		c := counts{}
		err := sv.put(func(tx *bolt.Tx) error {
			b, err := sub(tx, bRecords, coll)
			if err != nil {
				return err
			}
			for _, p := range batch {
				var st recordState
				_ = decodeRecord(p.v, &st)
				ok := st.Deleted || hasChange(tx, coll, string(p.k), st.Version)
				for _, l := range st.Leaves {
					ok = ok && hasChange(tx, coll, string(p.k), l)
				}
				if !ok {
					sv.rep.Lost.Records++
					continue
				}
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
				sv.rep.Copied.Records++
				if st.Deleted {
					c.Deleted++
				} else {
					c.Live++
				}
			}
			return putJSON(bucket(tx, bCounts), []byte(coll), c)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// copyRefs copies journal or mirror entries whose change is in the new
// store, and the bucket's sequence.
func (sv *salvager) copyRefs(name string, copied, lost *int) error {
	if name == bJournal {
		sv.journal = map[uint64]bool{}
	}
	err := sv.copyChunks([]string{name}, true, func(tx *bolt.Tx, pairs []pair) error {
		b := bucket(tx, name)
		for _, p := range pairs {
			var ref changeRef
			if err := json.Unmarshal(p.v, &ref); err != nil || !hasChange(tx, ref.Collection, ref.RecordID, ref.Version) {
				*lost++
				continue
			}
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
			*copied++
			if name == bJournal {
				sv.journal[btou(p.k)] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	seq := sv.sequence(name)
	return sv.put(func(tx *bolt.Tx) error {
		if name == bJournal {
			// Entries after the push cursor are never truncated, so the
			// journal ends at its last copied entry or at the cursor:
			// lost entries at its end must not stay pending for ever.
			seq = btou(bucket(tx, bMeta).Get([]byte(keyPushCursor)))
			for s := range sv.journal {
				seq = max(seq, s)
			}
		}
		return bucket(tx, name).SetSequence(seq)
	})
}

// copyBatches copies push batch manifests. A batch not yet verified that
// lost a journal entry is dropped and its other entries are freed, so that
// the next push plans them again.
func (sv *salvager) copyBatches() error {
	var batch []pair
	sv.scan([]string{bBatches}, func(k, v []byte) bool {
		batch = append(batch, pair{k, v})
		return true
	}, false)
	cursor := uint64(0)
	return sv.put(func(tx *bolt.Tx) error {
		cursor = btou(bucket(tx, bMeta).Get([]byte(keyPushCursor)))
		bb, jb := bucket(tx, bBatches), bucket(tx, bJournal)
		for _, p := range batch {
			var b Batch
			if err := json.Unmarshal(p.v, &b); err != nil {
				sv.rep.Lost.Other++
				continue
			}
			whole := true
			for _, seq := range b.Seqs {
				if seq > cursor && !sv.journal[seq] {
					whole = false
				}
			}
			if b.State != BatchVerified && !whole {
				for _, seq := range b.Seqs {
					if err := freeEntry(jb, seq); err != nil {
						return err
					}
				}
				sv.rep.Lost.Other++
				continue
			}
			if err := bb.Put(p.k, p.v); err != nil {
				return err
			}
			sv.rep.Copied.Other++
		}
		return nil
	})
}

// freeEntry takes the journal entry seq out of its batch, if it is there.
func freeEntry(jb *bolt.Bucket, seq uint64) error {
	v := jb.Get(utob(seq))
	if v == nil {
		return nil
	}
	var ref changeRef
	if err := json.Unmarshal(v, &ref); err != nil {
		return nil
	}
	ref.Batch = ""
	return putJSON(jb, utob(seq), ref)
}

// copyAudit copies every audit entry that decodes, with the log's sequence,
// and indexes them by record.
func (sv *salvager) copyAudit() error {
	err := sv.copyChunks([]string{bAudit}, true, func(tx *bolt.Tx, pairs []pair) error {
		ab, ib := bucket(tx, bAudit), bucket(tx, bAuditRec)
		for _, p := range pairs {
			var e AuditEntry
			if err := json.Unmarshal(p.v, &e); err != nil {
				sv.rep.Lost.Audit++
				continue
			}
			if err := ab.Put(p.k, p.v); err != nil {
				return err
			}
			if err := indexAudit(ib, btou(p.k), e.Collection, e.RecordID); err != nil {
				return err
			}
			sv.rep.Copied.Audit++
		}
		return nil
	})
	if err != nil {
		return err
	}
	seq := sv.sequence(bAudit)
	return sv.put(func(tx *bolt.Tx) error { return bucket(tx, bAudit).SetSequence(seq) })
}
