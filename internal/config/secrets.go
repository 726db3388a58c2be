package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zalando/go-keyring"
)

// KeyringService is the service name fieldsync's secrets use in the OS keyring.
const KeyringService = "fieldsync"

// ErrNoPassword means no password is stored for the Drill user.
var ErrNoPassword = errors.New("no Drill password is stored")

// Keyring is the part of the OS keyring fieldsync uses.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// OSKeyring is the operating system's keyring (Secret Service on Linux,
// Credential Manager on Windows, Keychain on macOS).
type OSKeyring struct{}

var _ Keyring = OSKeyring{}

// Get returns a stored secret.
func (OSKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }

// Set stores a secret.
func (OSKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}

// Delete removes a secret.
func (OSKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// Secrets finds the Drill password. In order it tries: the environment
// variable FIELDSYNC_DRILL_PASSWORD (for service accounts and CI), the OS
// keyring, then a password file (PasswordFile) that must be readable by its
// owner only. The keyring is the normal home; the others are the documented
// fallbacks for machines without one.
type Secrets struct {
	Keyring      Keyring
	Env          []string
	PasswordFile string
}

// account is the keyring account for a Drill user: the same user on two
// clusters is kept apart by naming the first URL.
func account(user string, urls []string) string {
	if len(urls) == 0 {
		return user
	}
	return user + "@" + urls[0]
}

// DrillPassword returns the password of the configured Drill user and where
// it came from ("env", "keyring", "file").
func (s Secrets) DrillPassword(d Drill) (string, string, error) {
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, "FIELDSYNC_DRILL_PASSWORD="); ok && v != "" {
			return v, "env", nil
		}
	}
	var kerr error
	if s.Keyring != nil {
		pw, err := s.Keyring.Get(KeyringService, account(d.User, d.URLs))
		if err == nil {
			return pw, "keyring", nil
		}
		kerr = err
	}
	if s.PasswordFile != "" {
		pw, err := readPasswordFile(s.PasswordFile)
		if err == nil {
			return pw, "file", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
	}
	if kerr != nil && !errors.Is(kerr, keyring.ErrNotFound) {
		return "", "", fmt.Errorf("config: %w for %s (keyring: %v; run 'fieldsync login' or set FIELDSYNC_DRILL_PASSWORD)", ErrNoPassword, d.User, kerr)
	}
	return "", "", fmt.Errorf("config: %w for %s (run 'fieldsync login')", ErrNoPassword, d.User)
}

// SetDrillPassword stores the password in the keyring, or in the password
// file when the keyring cannot be used. It returns where it went.
func (s Secrets) SetDrillPassword(d Drill, password string) (string, error) {
	if s.Keyring != nil {
		err := s.Keyring.Set(KeyringService, account(d.User, d.URLs), password)
		if err == nil {
			return "keyring", nil
		}
		if s.PasswordFile == "" {
			return "", fmt.Errorf("config: store password in keyring: %w", err)
		}
	}
	if s.PasswordFile == "" {
		return "", errors.New("config: no keyring and no password file to store the password in")
	}
	if err := WriteFileAtomic(s.PasswordFile, []byte(password+"\n")); err != nil {
		return "", err
	}
	return "file", nil
}

func readPasswordFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("config: password file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("config: password file %s is readable by others (mode %v): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// WriteFileAtomic writes data to path with mode 0600 (parent dirs 0700),
// through a temporary file and a rename so a crash never leaves half a file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("config: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("config: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
