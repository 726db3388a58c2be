// Command fieldsync is the desktop sync agent: with no arguments it opens
// its window; with a subcommand (sync, status, doctor, agent, serve, ...) it
// works headless. main is the composition root: it hands the process's
// streams, environment and embedded UI to the command line and maps its
// result to an exit code.
package main

import (
	"context"
	"embed"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/fieldsync/fieldsync/internal/cli"
)

// assets is the built web UI; frontend/dist/.gitkeep keeps the pattern valid
// before the first frontend build.
//
//go:embed all:frontend/dist
var assets embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	dist, err := fs.Sub(assets, "frontend/dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	code := cli.Main(ctx, cli.Env{
		Args:    os.Args[1:],
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Environ: os.Environ(),
		Assets:  dist,
		Desktop: desktop,
	})
	stop()
	os.Exit(code)
}
