package cli

import (
	"context"
	"encoding/json"
	"fmt"
)

func runSettings(_ context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "settings")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(env, g)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	fmt.Fprintln(env.Stdout, string(b))
	return nil
}
