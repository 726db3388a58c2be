package config

import "testing"

func TestManagedFileFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		goos string
		env  map[string]string
		want string
	}{
		{"linux", "linux", nil, "/etc/fieldsync/config.json"},
		{"linux ignores ProgramData", "linux", map[string]string{"ProgramData": `C:\ProgramData`}, "/etc/fieldsync/config.json"},
		{"other unix", "freebsd", nil, "/etc/fieldsync/config.json"},
		{"windows", "windows", map[string]string{"ProgramData": `C:\ProgramData`}, `C:\ProgramData\fieldsync\config.json`},
		{"windows other drive", "windows", map[string]string{"ProgramData": `D:\ProgramData`}, `D:\ProgramData\fieldsync\config.json`},
		{"windows trailing separator", "windows", map[string]string{"ProgramData": `C:\ProgramData\`}, `C:\ProgramData\fieldsync\config.json`},
		{"windows unset: system drive", "windows", map[string]string{"SystemDrive": "E:"}, `E:\ProgramData\fieldsync\config.json`},
		{"windows nothing set", "windows", nil, `C:\ProgramData\fieldsync\config.json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := managedFileFor(tt.goos, func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("managedFileFor(%q) = %q, want %q", tt.goos, got, tt.want)
			}
		})
	}
}
