//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// releaseMapped does nothing where MADV_DONTNEED is not known to leave a
// shared file map readable (see the Linux version).
func releaseMapped(*bolt.Tx) {}
