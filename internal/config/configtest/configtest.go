// Package configtest holds test doubles for package config.
package configtest

import (
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/zalando/go-keyring"
)

// Keyring is an OS keyring in memory, keyed by service and user.
type Keyring map[string]string

var _ config.Keyring = Keyring(nil)

// Get returns the stored secret, or keyring.ErrNotFound.
func (k Keyring) Get(service, user string) (string, error) {
	if v, ok := k[service+"/"+user]; ok {
		return v, nil
	}
	return "", keyring.ErrNotFound
}

// Set stores a secret.
func (k Keyring) Set(service, user, password string) error {
	k[service+"/"+user] = password
	return nil
}

// Delete removes a secret.
func (k Keyring) Delete(service, user string) error {
	delete(k, service+"/"+user)
	return nil
}
