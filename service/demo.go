package service

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// DemoMarker is the file that marks a data dir as demo data: the example
// records `make run` seeds (scripts/demo-seed.sh writes it before the first
// record). Info reports it so that the window says it shows demo data.
const DemoMarker = "demo.txt"

// IsDemo reports whether dataDir holds demo data (has a DemoMarker file).
// A marker that cannot be read for any other reason than being absent counts
// as present: saying "demo" of real data is the safer mistake.
func IsDemo(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, DemoMarker))
	return !errors.Is(err, fs.ErrNotExist)
}
