package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fieldsync/fieldsync/internal/config"
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
	origins, err := originsFor(env, g)
	if err != nil {
		return err
	}
	// The settings in force, and for each key not at its default where
	// its value came from ("set by IT in /etc/fieldsync/config.json").
	out := struct {
		config.Config
		Origins map[string]string `json:"origins"`
	}{Config: c, Origins: map[string]string{}}
	for k, o := range origins {
		out.Origins[k] = o.String()
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	fmt.Fprintln(env.Stdout, string(b))
	return nil
}
