package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestManagedSettingsAreLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	user := writeFile(t, dir, "user.json", `{"schedule":"@every 1m","drill":{"workspace":"mine"}}`)
	managed := writeFile(t, dir, "managed.json", `{"drill":{"urls":["https://drill.corp:8047"]},"collections":"/etc/c.json"}`)
	tests := []struct {
		name string
		env  []string
		key  string // the locked key named, "" when Load must succeed
	}{
		{"a variable for a key IT set", []string{"FIELDSYNC_DRILL_URLS=http://evil:1"}, "drill.urls"},
		{"another one", []string{"FIELDSYNC_COLLECTIONS=/tmp/mine.json"}, "collections"},
		{"a variable for a key IT left open", []string{"FIELDSYNC_SCHEDULE=@hourly"}, ""},
		{"an empty variable changes nothing", []string{"FIELDSYNC_DRILL_URLS="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(Sources{User: user, Managed: managed, Env: tt.env})
			var le *LockedError
			switch {
			case tt.key == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.key == "":
				if c.Drill.URLs[0] != "https://drill.corp:8047" {
					t.Errorf("IT's value lost: %v", c.Drill.URLs)
				}
			case !errors.As(err, &le) || le.Key != tt.key || le.Managed != managed || !strings.Contains(err.Error(), "set by IT in "+managed):
				t.Errorf("Load err = %v, want a LockedError for %s naming %s", err, tt.key, managed)
			}
		})
	}
	if err := CheckLocked(Sources{Managed: managed}, "drill.urls", "the command-line flag --drill"); !strings.Contains(fmtErr(err), "cannot be changed by the command-line flag --drill") {
		t.Errorf("CheckLocked(drill.urls) = %v", err)
	}
	if err := CheckLocked(Sources{Managed: managed}, "device", "the command-line flag --device"); err != nil {
		t.Errorf("CheckLocked(device) = %v, want nil", err)
	}
	if err := CheckLocked(Sources{Managed: filepath.Join(dir, "none.json")}, "drill.urls", "x"); err != nil {
		t.Errorf("CheckLocked without a managed file = %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	user := writeFile(t, dir, "user.json", `{"schedule":"@every 1m","drill":{"workspace":"mine"}}`)
	managed := writeFile(t, dir, "managed.json", `{"drill":{"urls":["https://drill.corp:8047"]}}`)
	got, err := Origins(Sources{User: user, Managed: managed, Env: []string{"FIELDSYNC_DEVICE=d1", "FIELDSYNC_SCHEDULE=@hourly"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"drill.urls":      "set by IT in " + managed,
		"device":          "set by the environment variable FIELDSYNC_DEVICE",
		"schedule":        "set by the environment variable FIELDSYNC_SCHEDULE",
		"drill.workspace": "from your settings file " + user,
	}
	if len(got) != len(want) {
		t.Errorf("Origins = %v, want %d keys", got, len(want))
	}
	for k, w := range want {
		if got[k].String() != w {
			t.Errorf("Origins[%s] = %q, want %q", k, got[k], w)
		}
	}
	locked := map[string]bool{"drill.urls": true, "device": true, "schedule": true, "drill.workspace": false}
	for k, l := range locked {
		if got[k].Locked() != l {
			t.Errorf("Origins[%s].Locked() = %v, want %v", k, !l, l)
		}
	}
	if (Origin{}).String() != "the default" || (Origin{Layer: LayerFlag, Where: "--drill"}).String() != "set by the command-line flag --drill" {
		t.Error("Origin words for defaults or flags are off")
	}
}
