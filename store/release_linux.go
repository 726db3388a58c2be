package store

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped tells the kernel that this process no longer needs the
// mapped pages of tx's file (MADV_DONTNEED on a shared file map: the next
// read maps the page in again from the page cache). It must run inside tx.
func releaseMapped(tx *bolt.Tx) {
	size := tx.Size()
	if size <= 0 {
		return
	}
	// The address is bbolt's map, which stays put while tx is open.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), syscall.MADV_DONTNEED)
}
