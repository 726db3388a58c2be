//go:build !unix

package store

import "errors"

// helperFullDisk needs RLIMIT_FSIZE, which only Unix has.
func helperFullDisk(string) error { return errors.New("fulldisk: not supported on this system") }
