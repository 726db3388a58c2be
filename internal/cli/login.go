package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

func runLogin(_ context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "login")
	user := fs.String("user", "", "Drill `user` (default: drill.user from the settings)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(env, g)
	if err != nil {
		return err
	}
	if *user != "" {
		c.Drill.User = *user
	}
	if c.Drill.User == "" {
		return fmt.Errorf("%w: login: no Drill user (set drill.user in the settings or pass --user)", errUsage)
	}
	pw, err := readPassword(env, fmt.Sprintf("Drill password for %s: ", c.Drill.User))
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	secrets := secretsFor(env, c)
	where, err := secrets.SetDrillPassword(c.Drill, pw)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if where == "file" {
		fmt.Fprintf(env.Stdout, "No OS keyring is available: the password was saved to %s (mode 0600).\n", secrets.PasswordFile)
		return nil
	}
	fmt.Fprintln(env.Stdout, "Password saved in the OS keyring.")
	return nil
}

// readPassword reads one line; without echo when stdin is a terminal.
func readPassword(env Env, prompt string) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	if env.Stdin == nil {
		return "", errors.New("no password on standard input")
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
