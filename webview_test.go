package main

import (
	"path/filepath"
	"testing"
)

func TestWebviewDataDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		goos    string
		dataDir string
		env     map[string]string
		want    string
	}{
		{"windows: local app data, whatever the data dir", "windows", `C:\Users\ana\AppData\Roaming\fieldsync`,
			map[string]string{"LOCALAPPDATA": `C:\Users\ana\AppData\Local`, "APPDATA": `C:\Users\ana\AppData\Roaming`},
			`C:\Users\ana\AppData\Local\fieldsync\webview`},
		{"windows: another data dir, same webview folder", "windows", `D:\field\data`,
			map[string]string{"LOCALAPPDATA": `C:\Users\ana\AppData\Local`},
			`C:\Users\ana\AppData\Local\fieldsync\webview`},
		{"windows without LOCALAPPDATA: inside the data dir", "windows", "data", nil,
			filepath.Join("data", "webview")},
		{"linux: inside the data dir", "linux", "/home/ana/.local/state/fieldsync",
			map[string]string{"LOCALAPPDATA": "ignored"},
			"/home/ana/.local/state/fieldsync/webview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := webviewDataDir(tt.goos, tt.dataDir, func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("webviewDataDir(%q, %q) = %q, want %q", tt.goos, tt.dataDir, got, tt.want)
			}
		})
	}
}
