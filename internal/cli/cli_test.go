package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/config/configtest"
)

// run executes the command line in a sandboxed environment: HOME and the
// XDG directories point into a temp dir so no real user file is touched.
func run(tb testing.TB, kr configtest.Keyring, stdin string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	home := tb.TempDir()
	var out, errb bytes.Buffer
	env := Env{
		Args:   args,
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Environ: []string{
			"HOME=" + home,
			"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
			"FIELDSYNC_MANAGED_CONFIG=" + filepath.Join(home, "managed.json"),
		},
		Keyring: kr,
	}
	if kr == nil {
		env.Keyring = configtest.Keyring{}
	}
	code = Main(context.Background(), env)
	return code, out.String(), errb.String()
}

func writeConfig(tb testing.TB, body string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	bad := writeConfig(t, `{"drill":{"auth":"kerberos"}}`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "fieldsync ", ""},
		{"help", []string{"help"}, 0, "usage: fieldsync", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"bad flag", []string{"settings", "--nope"}, 2, "", "flag provided but not defined"},
		{"missing config file", []string{"settings", "--config", "/nonexistent/c.json"}, 1, "", "/nonexistent/c.json"},
		{"bad config", []string{"settings", "--config", bad}, 1, "", "want none, basic or form"},
		{"doctor reports bad config", []string{"doctor", "--config", bad}, 1, "[FAIL] settings", "1 check(s) failed"},
		{"no window in this build", nil, 1, "", "this build has no window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := run(t, nil, "", tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, errs)
			}
			if !strings.Contains(out, tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", out, tt.wantStdout)
			}
			if !strings.Contains(errs, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", errs, tt.wantStderr)
			}
		})
	}
}

func TestSettingsFlagsOverrideFile(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, `{"drill":{"urls":["http://file:1"],"workspace":"fromfile"},"device":"dev-file"}`)
	code, out, errs := run(t, nil, "", "settings", "--config", cfg, "--drill", "http://a:1,http://b:2", "--device", "dev-flag", "--data-dir", "/tmp/dd")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		DataDir string `json:"data_dir"`
		Device  string `json:"device"`
		Drill   struct {
			URLs      []string `json:"urls"`
			Workspace string   `json:"workspace"`
		} `json:"drill"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("settings output is not JSON: %v\n%s", err, out)
	}
	if strings.Join(got.Drill.URLs, ",") != "http://a:1,http://b:2" || got.Device != "dev-flag" ||
		got.Drill.Workspace != "fromfile" || got.DataDir != "/tmp/dd" {
		t.Errorf("settings = %+v", got)
	}
}

func TestLoginStoresPasswordInKeyring(t *testing.T) {
	t.Parallel()
	kr := configtest.Keyring{}
	cfg := writeConfig(t, `{"drill":{"urls":["http://d:8047"],"auth":"basic","user":"ann"}}`)
	code, out, errs := run(t, kr, "s3cret pw\n", "login", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "keyring") {
		t.Errorf("stdout = %q, want it to say where the password went", out)
	}
	if got := kr["fieldsync/ann@http://d:8047"]; got != "s3cret pw" {
		t.Errorf("keyring holds %q, want the password", got)
	}
	code, _, errs = run(t, configtest.Keyring{}, "", "login", "--config", cfg)
	if code == 0 || !strings.Contains(errs, "no password") {
		t.Errorf("login with empty stdin: exit %d, stderr %q", code, errs)
	}
}
