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
		Self:    testSelf,
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

// noPanic fails the test when stderr holds a Go panic or stack trace.
func noPanic(tb testing.TB, stderr string) {
	tb.Helper()
	for _, s := range []string{"panic:", "goroutine ", ".go:", "internal error"} {
		if strings.Contains(stderr, s) {
			tb.Fatalf("stderr holds %q:\n%s", s, stderr)
		}
	}
}

// TestEveryCommandRefusesABadFlagByName runs each command as a person might
// mistype it: one line naming the flag, the usage exit code, no trace.
func TestEveryCommandRefusesABadFlagByName(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		for _, args := range [][]string{
			{c.name, "--no-such-flag"},
			{"--no-such-flag", c.name},
			{"--data-dir", t.TempDir(), c.name, "--no-such-flag=1"},
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				code, _, errs := run(t, nil, "", args...)
				noPanic(t, errs)
				if code != 2 || !strings.Contains(errs, "no-such-flag") {
					t.Errorf("exit %d, stderr %q; want 2 and the flag named", code, errs)
				}
			})
		}
	}
}

// TestGlobalFlagsBeforeTheCommand: "fieldsync --data-dir D status" is
// "fieldsync status --data-dir D", for every kind of flag.
func TestGlobalFlagsBeforeTheCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"value flag", []string{"--data-dir", dir, "settings"}, `"data_dir": "` + dir + `"`},
		{"value flag with =", []string{"--data-dir=" + dir, "--device", "dev-x", "settings"}, `"device": "dev-x"`},
		{"bool flag then value flag", []string{"--json", "--data-dir", dir, "status"}, `"pending": 0`},
		{"before and after", []string{"--data-dir", dir, "status", "--json"}, `"pending": 0`},
		{"single dash", []string{"-data-dir", dir, "version"}, "fieldsync "},
		{"before a subcommand", []string{"--data-dir", dir, "--json", "conflicts", "list"}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, nil, "", tt.args...)
			noPanic(t, errs)
			if code != 0 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errs, tt.want)
			}
		})
	}
	if code, _, errs := run(t, nil, "", "--data-dir", dir, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command after flags: exit %d, stderr %q", code, errs)
	}
}

// TestNoDisplaySaysSoInOneLine: without a display the window is never
// tried; the person is told what to run instead.
func TestNoDisplaySaysSoInOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--data-dir", t.TempDir()}, {"--log-level", "debug"}} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), Env{
			Args: args, Stdout: &out, Stderr: &errb, Keyring: configtest.Keyring{},
			Environ: []string{"HOME=" + t.TempDir(), "FIELDSYNC_MANAGED_CONFIG=/nonexistent"},
			Desktop: func(context.Context, Desktop) error {
				t.Fatal("the window was opened without a display")
				return nil
			},
		})
		errs := errb.String()
		noPanic(t, errs)
		if code == 0 || strings.Count(strings.TrimSpace(errs), "\n") != 0 ||
			!strings.Contains(errs, "needs a display") || !strings.Contains(errs, "fieldsync serve") || !strings.Contains(errs, "fieldsync agent") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestPanicIsOneLine: a bug that panics is told in one line with its own
// exit code, not a stack trace.
func TestPanicIsOneLine(t *testing.T) {
	t.Parallel()
	var errb bytes.Buffer
	code := Main(context.Background(), Env{
		Stderr: &errb, Keyring: configtest.Keyring{},
		Environ: []string{"HOME=" + t.TempDir(), "DISPLAY=:99", "FIELDSYNC_MANAGED_CONFIG=/nonexistent"},
		Desktop: func(context.Context, Desktop) error { panic("failed to init GTK") },
	})
	if code != exitInternal || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 || !strings.Contains(errb.String(), "failed to init GTK") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

func TestHasDisplay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  []string
		goos string
		want bool
	}{
		{nil, "linux", false},
		{[]string{"DISPLAY="}, "linux", false},
		{[]string{"DISPLAY=:0"}, "linux", true},
		{[]string{"WAYLAND_DISPLAY=wayland-0"}, "linux", true},
		{nil, "windows", true},
		{nil, "darwin", true},
	}
	for _, tt := range tests {
		if got := hasDisplay(tt.env, tt.goos); got != tt.want {
			t.Errorf("hasDisplay(%v, %s) = %v, want %v", tt.env, tt.goos, got, tt.want)
		}
	}
}

// TestManagedSettingsCannotBeOverridden: what IT's managed file sets wins
// over flags and variables, and `settings` says where each value came from.
func TestManagedSettingsCannotBeOverridden(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	managed := filepath.Join(home, "managed.json")
	if err := os.WriteFile(managed, []byte(`{"drill":{"urls":["https://drill.corp:8047"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mainIn := func(env []string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), Env{Args: args, Stdout: &out, Stderr: &errb, Keyring: configtest.Keyring{},
			Environ: append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "cfg"), "FIELDSYNC_MANAGED_CONFIG=" + managed}, env...)})
		return code, out.String(), errb.String()
	}
	if code, _, errs := mainIn(nil, "settings", "--drill", "http://mine:1"); code != 1 || !strings.Contains(errs, "drill.urls is set by IT in "+managed) || !strings.Contains(errs, "--drill") {
		t.Errorf("flag over a locked key: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := mainIn([]string{"FIELDSYNC_DRILL_URLS=http://mine:1"}, "status"); code != 1 || !strings.Contains(errs, "FIELDSYNC_DRILL_URLS") || !strings.Contains(errs, "set by IT") {
		t.Errorf("variable over a locked key: exit %d, stderr %q", code, errs)
	}
	code, out, errs := mainIn([]string{"FIELDSYNC_SCHEDULE=@hourly"}, "settings", "--device", "dev-f")
	if code != 0 {
		t.Fatalf("settings: exit %d: %s", code, errs)
	}
	var got struct {
		Origins map[string]string `json:"origins"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"drill.urls": "set by IT in " + managed,
		"schedule":   "set by the environment variable FIELDSYNC_SCHEDULE",
		"device":     "set by the command-line flag --device",
	}
	for k, w := range want {
		if got.Origins[k] != w {
			t.Errorf("origins[%s] = %q, want %q (all: %v)", k, got.Origins[k], w, got.Origins)
		}
	}
}
