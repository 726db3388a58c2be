package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFileKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, body string
		want       []string
	}{
		{"missing", "", nil},
		{"nested", `{"schedule":"@every 1m","drill":{"urls":["http://a:8047"],"auth":"none"},"log":{}}`,
			[]string{"drill.auth", "drill.urls", "log", "schedule"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(dir, tt.name+".json")
			if tt.body != "" {
				if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := FileKeys(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FileKeys = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUpdateFileKeepsOtherKeys(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "sub", "config.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"log":{"level":"debug"},"drill":{"user":"ann","timeout":"30s"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := UpdateFile(p, map[string]any{"schedule": "@every 1m", "drill.urls": []string{"http://x:8047"}, "drill.user": ""})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{User: p, UserRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Schedule != "@every 1m" || c.Log.Level != "debug" || c.Drill.User != "" || len(c.Drill.URLs) != 1 || time.Duration(c.Drill.Timeout) != 30*time.Second {
		t.Errorf("after update: %+v", c)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestUpdateFileRefusesWhatWouldNotLoad(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "config.json")
	before := []byte(`{"schedule":"@every 5m"}`)
	if err := os.WriteFile(p, before, 0o600); err != nil {
		t.Fatal(err)
	}
	err := UpdateFile(p, map[string]any{"drill.nonsense": "x"})
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("err = %v, want the unknown key named", err)
	}
	after, _ := os.ReadFile(p)
	if string(after) != string(before) {
		t.Errorf("file changed to %s", after)
	}
}
