package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// FileKeys returns the dotted keys one settings file sets ("schedule",
// "drill.urls"), sorted. A missing file sets none. The settings UI shows the
// keys of the managed file as locked, because that layer wins.
func FileKeys(path string) ([]string, error) {
	m, err := readObject(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			keys = append(keys, prefix+k)
		}
	}
	walk("", m)
	sort.Strings(keys)
	return keys, nil
}

// UpdateFile sets dotted keys ("drill.urls") in one settings file and keeps
// every other key it holds, then replaces the file atomically (0600). A nil
// value, an empty string or an empty list removes the key, so the layers
// below apply. Nothing is written when the result would not load.
func UpdateFile(path string, set map[string]any) error {
	m, err := readObject(path)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[string]any{}
	}
	for key, v := range set {
		parts := strings.Split(key, ".")
		obj := m
		for _, p := range parts[:len(parts)-1] {
			sub, ok := obj[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				obj[p] = sub
			}
			obj = sub
		}
		last := parts[len(parts)-1]
		if empty(v) {
			delete(obj, last)
		} else {
			obj[last] = v
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	b = append(b, '\n')
	c := Default()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("config: %s: %s", path, describeJSONError(b, err))
	}
	return WriteFileAtomic(path, b)
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	}
	return false
}

// readObject reads a settings file as a JSON object; a missing file is nil.
func readObject(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var m map[string]any
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("config: %s: %s", path, describeJSONError(b, err))
	}
	return m, nil
}
