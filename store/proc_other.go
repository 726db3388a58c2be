//go:build !unix

package store

import "os"

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid) // fails on Windows when there is none
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
