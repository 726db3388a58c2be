package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowserSuiteIsAStep runs `scripts/test.sh browser` from a copy of
// the script in a scratch tree, with scripts/browser-test.sh missing, not
// executable, passing and failing: only a browser suite that ran and
// passed makes the step pass. A missing or non-executable script used to
// be skipped, so `make test` passed without any browser test.
func TestBrowserSuiteIsAStep(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("test.sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		script string // "" = no browser-test.sh
		mode   os.FileMode
		wantOK bool
		want   string
	}{
		{"missing", "", 0, false, "browser end-to-end FAILED"},
		{"not executable", "#!/bin/sh\nexit 0\n", 0o644, false, "missing or not executable"},
		{"passes", "#!/bin/sh\necho suite ran\nexit 0\n", 0o755, true, "suite ran"},
		{"fails", "#!/bin/sh\nexit 1\n", 0o755, false, "browser end-to-end FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			dir := filepath.Join(root, "scripts")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "test.sh"), src, 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.script != "" {
				if err := os.WriteFile(filepath.Join(dir, "browser-test.sh"), []byte(tt.script), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("bash", filepath.Join(dir, "test.sh"), "browser").CombinedOutput()
			if ok := err == nil; ok != tt.wantOK {
				t.Errorf("test.sh browser succeeded = %v (%v), want %v; output:\n%s", ok, err, tt.wantOK, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output does not say %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestFullRunHasTheBrowserStep checks that the full run (make test) calls
// the same browser step as `test.sh browser`, not a guarded copy of it.
func TestFullRunHasTheBrowserStep(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("test.sh")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	last := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "step ") {
			last = l
		}
	}
	if last != `step "browser end-to-end" browser_suite` {
		t.Errorf("the last step of the full run is %q, want the browser suite as an unconditional step", last)
	}
}
