package config

import (
	"fmt"
	"strings"
)

// Layers a setting's value can come from, lowest first.
const (
	LayerDefault = "default"
	LayerUser    = "user"
	LayerEnv     = "env"
	LayerManaged = "managed"
	LayerFlag    = "flag"
)

// Origin says where a setting's value came from.
type Origin struct {
	// Layer is one of the Layer constants.
	Layer string `json:"layer"`
	// Where names the file, environment variable or flag; empty for
	// defaults.
	Where string `json:"where,omitempty"`
}

// Locked reports whether the value cannot be changed from the app: IT's
// managed file, an environment variable or a command-line flag set it.
func (o Origin) Locked() bool {
	switch o.Layer {
	case LayerManaged, LayerEnv, LayerFlag:
		return true
	}
	return false
}

// String says in plain words where the value came from.
func (o Origin) String() string {
	switch o.Layer {
	case LayerManaged:
		return "set by IT in " + o.Where
	case LayerEnv:
		return "set by the environment variable " + o.Where
	case LayerFlag:
		return "set by the command-line flag " + o.Where
	case LayerUser:
		return "from your settings file " + o.Where
	}
	return "the default"
}

// LockedError is returned when an environment variable or a flag tries to
// change a setting that IT set in the managed file: IT's value wins and
// fieldsync says so instead of quietly ignoring either.
type LockedError struct {
	// Key is the dotted settings key ("drill.urls").
	Key string
	// Managed is the managed file that sets it.
	Managed string
	// By is what tried to change it ("the environment variable X").
	By string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("config: %s is set by IT in %s and cannot be changed by %s: remove it there, or ask IT", e.Key, e.Managed, e.By)
}

// Origins returns where the value of each key set by a layer of src comes
// from (keys left at their default are absent). Flags are the caller's:
// it adds them with LayerFlag.
func Origins(src Sources) (map[string]Origin, error) {
	out := map[string]Origin{}
	if src.User != "" {
		keys, err := FileKeys(src.User)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			out[k] = Origin{Layer: LayerUser, Where: src.User}
		}
	}
	for _, k := range envKeys {
		if _, ok := LookupEnv(src.Env, k.name); ok {
			out[k.key] = Origin{Layer: LayerEnv, Where: k.name}
		}
	}
	managed, err := managedKeys(src)
	if err != nil {
		return nil, err
	}
	for _, k := range managed {
		out[k] = Origin{Layer: LayerManaged, Where: src.Managed}
	}
	return out, nil
}

// managedKeys returns the dotted keys the managed file sets.
func managedKeys(src Sources) ([]string, error) {
	if src.Managed == "" {
		return nil, nil
	}
	return FileKeys(src.Managed)
}

// CheckLocked returns a *LockedError when the managed file of src sets key
// (or an object holding it), which by then tries to change.
func CheckLocked(src Sources, key, by string) error {
	keys, err := managedKeys(src)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k == key || strings.HasPrefix(key, k+".") || strings.HasPrefix(k, key+".") {
			return &LockedError{Key: key, Managed: src.Managed, By: by}
		}
	}
	return nil
}

// checkEnvLocks refuses an environment variable that tries to change a
// key of the managed file.
func checkEnvLocks(src Sources) error {
	for _, k := range envKeys {
		if _, ok := LookupEnv(src.Env, k.name); !ok {
			continue
		}
		if err := CheckLocked(src, k.key, "the environment variable "+k.name); err != nil {
			return err
		}
	}
	return nil
}
