package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

func writeFile(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLoadLayers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	user := writeFile(t, dir, "user.json", `{"schedule":"@every 1m","drill":{"urls":["http://a:8047"],"workspace":"mine"}}`)
	managed := writeFile(t, dir, "managed.json", `{"drill":{"urls":["https://drill.corp:8047","https://drill2.corp:8047"]}}`)

	tests := []struct {
		name string
		src  Sources
		want func(Config) string // returns "" when fine
	}{
		{"defaults only", Sources{}, func(c Config) string {
			if c.Schedule != "@every 5m" || c.Drill.Workspace != "fieldsync" || c.Drill.Auth != "none" || c.Drill.Timeout != Duration(time.Minute) ||
				c.Log.MaxSizeMB != 10 || c.Log.MaxFiles != 5 || c.Metrics.Addr != "" {
				return "unexpected defaults"
			}
			return ""
		}},
		{"user overrides defaults", Sources{User: user}, func(c Config) string {
			if c.Schedule != "@every 1m" || c.Drill.Workspace != "mine" || c.Drill.URLs[0] != "http://a:8047" {
				return "user values not applied"
			}
			if c.Drill.Plugin != "dfs" {
				return "default lost under partial user file"
			}
			return ""
		}},
		{"managed overrides user", Sources{User: user, Managed: managed}, func(c Config) string {
			if len(c.Drill.URLs) != 2 || c.Drill.URLs[0] != "https://drill.corp:8047" {
				return "managed urls not applied"
			}
			if c.Drill.Workspace != "mine" {
				return "user value not set by managed was lost"
			}
			return ""
		}},
		{"env overrides the user's file", Sources{User: user, Env: []string{"FIELDSYNC_DRILL_URLS=http://x:1, http://y:2", "FIELDSYNC_SCHEDULE=@hourly"}}, func(c Config) string {
			if strings.Join(c.Drill.URLs, ",") != "http://x:1,http://y:2" || c.Schedule != "@hourly" {
				return "env not applied"
			}
			return ""
		}},
		{"env sets what IT did not", Sources{User: user, Managed: managed, Env: []string{"FIELDSYNC_SCHEDULE=@hourly"}}, func(c Config) string {
			if c.Schedule != "@hourly" || c.Drill.URLs[0] != "https://drill.corp:8047" {
				return "env or managed not applied"
			}
			return ""
		}},
		{"missing optional files", Sources{User: filepath.Join(dir, "nope.json"), Managed: filepath.Join(dir, "nope2.json")}, func(c Config) string {
			if c.Schedule != "@every 5m" {
				return "defaults lost"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.src)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if msg := tt.want(c); msg != "" {
				t.Errorf("%s: got %+v", msg, c)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		body    string
		env     []string
		wantErr string
	}{
		{"syntax error names the line", "{\n\"schedule\": \"x\",\n}", nil, "line 3"},
		{"unknown key", `{"drill":{"urlz":["http://a"]}}`, nil, `unknown field "urlz"`},
		{"wrong type", `{"drill":{"urls":"http://a"}}`, nil, "must be []string"},
		{"bad url", `{"drill":{"urls":["ftp://a"]}}`, nil, "want http://host:port"},
		{"bad workspace", `{"drill":{"workspace":"a.b"}}`, nil, "drill workspace"},
		{"auth without user", `{"drill":{"auth":"basic"}}`, nil, "needs a user"},
		{"bad auth", `{"drill":{"auth":"kerberos"}}`, nil, "want none, basic or form"},
		{"bad timeout text", `{"drill":{"timeout":"soon"}}`, nil, "duration"},
		{"short timeout", `{"drill":{"timeout":"10ms"}}`, nil, "shorter than 1s"},
		{"bad device", `{"device":"a/b"}`, nil, "device"},
		{"bad log level", `{"log":{"level":"loud"}}`, nil, "log level"},
		{"bad env url", `{}`, []string{"FIELDSYNC_DRILL_URLS=nohost"}, "want http://host:port"},
		{"bad log format", `{"log":{"format":"xml"}}`, nil, "want text or json"},
		{"log size zero", `{"log":{"max_size_mb":-1}}`, nil, "max_size_mb -1: want 1 to 1024"},
		{"log size huge", `{"log":{"max_size_mb":4096}}`, nil, "max_size_mb 4096"},
		{"log files", `{"log":{"max_files":1000}}`, nil, "max_files 1000: want 1 to 100"},
		{"metrics on all interfaces", `{"metrics":{"addr":"0.0.0.0:9464"}}`, nil, "not a loopback address"},
		{"metrics on a LAN address", `{"metrics":{"addr":"192.168.1.5:9464"}}`, nil, "not a loopback address"},
		{"metrics by host name", `{"metrics":{"addr":"laptop.corp:9464"}}`, nil, "not a loopback address"},
		{"metrics without a port", `{"metrics":{"addr":"127.0.0.1"}}`, nil, "want host:port"},
		{"metrics bad port", `{"metrics":{"addr":"127.0.0.1:http"}}`, nil, "port \"http\""},
		{"metrics by the environment", `{}`, []string{"FIELDSYNC_METRICS_ADDR=:9464"}, "not a loopback address"},
		{"push parallel too many", `{"drill":{"push_parallel":9}}`, nil, "push_parallel 9: want 0 (default) to 8"},
		{"batch format unknown", `{"drill":{"batch_format":"csv"}}`, nil, `batch_format "csv": want parquet or json`},
		{"push parallel by the environment", `{}`, []string{"FIELDSYNC_DRILL_PUSH_PARALLEL=two"}, "want a whole number"},
		{"pull retries negative", `{"drill":{"pull_retries":-1}}`, nil, "pull_retries -1: want 0 (default, 8) to 100"},
		{"pull retries by the environment", `{}`, []string{"FIELDSYNC_DRILL_PULL_RETRIES=many"}, "want a whole number"},
		{"clock bound too small", `{"drill":{"max_clock_ahead":"1s"}}`, nil, "max_clock_ahead 1s"},
		{"clock bound too large", `{}`, []string{"FIELDSYNC_DRILL_MAX_CLOCK_AHEAD=10000h"}, "max_clock_ahead"},
		{"clock bound not a duration", `{}`, []string{"FIELDSYNC_DRILL_MAX_CLOCK_AHEAD=soon"}, "want a duration"},
		{"query limit too small", `{"drill":{"query_timeout":"10ms"}}`, nil, "query_timeout 10ms"},
		{"query limit not a duration", `{}`, []string{"FIELDSYNC_DRILL_QUERY_TIMEOUT=long"}, "want a duration such as 5m"},
		{"device named server", `{"device":"Server"}`, nil, "name of changes made in Drill"},
		{"ingest settle too long", `{"ingest":{"settle":"2h"}}`, nil, "ingest settle 2h0m0s: want 1ms to 1h"},
		{"json settle too short", `{"compact":{"json_settle":"10s"}}`, nil, "compact json_settle 10s: want 1m to 24h"},
		{"json settle from the environment", `{}`, []string{"FIELDSYNC_COMPACT_JSON_SETTLE=30s"}, "compact json_settle 30s"},
		{"ingest settle not a duration", `{}`, []string{"FIELDSYNC_INGEST_SETTLE=soon"}, "want a duration such as 10s"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := writeFile(t, dir, "c"+string(rune('a'+i))+".json", tt.body)
			_, err := Load(Sources{User: p, Env: tt.env})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:9464", "localhost:9464", "[::1]:9464", "127.0.0.2:0"} {
		t.Run("metrics at "+addr, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "m.json", `{"metrics":{"addr":"`+addr+`"},"log":{"max_size_mb":1,"max_files":1}}`)
			c, err := Load(Sources{User: p})
			if err != nil || c.Metrics.Addr != addr || c.Log.MaxSizeMB != 1 || c.Log.MaxFiles != 1 {
				t.Fatalf("Load = %+v, %v", c, err)
			}
		})
	}
	t.Run("clock bound from the environment", func(t *testing.T) {
		c, err := Load(Sources{Env: []string{"FIELDSYNC_DRILL_MAX_CLOCK_AHEAD=2h"}})
		if err != nil || time.Duration(c.Drill.MaxClockAhead) != 2*time.Hour {
			t.Fatalf("max_clock_ahead = %v, %v; want 2h", time.Duration(c.Drill.MaxClockAhead), err)
		}
		if d := time.Duration(Default().Drill.MaxClockAhead); d != 24*time.Hour {
			t.Errorf("default max_clock_ahead %s, want 24h", d)
		}
	})
	t.Run("query limit from the environment", func(t *testing.T) {
		c, err := Load(Sources{Env: []string{"FIELDSYNC_DRILL_QUERY_TIMEOUT=90s"}})
		if err != nil || time.Duration(c.Drill.QueryTimeout) != 90*time.Second {
			t.Fatalf("query_timeout = %v, %v; want 90s", time.Duration(c.Drill.QueryTimeout), err)
		}
		if d := time.Duration(Default().Drill.QueryTimeout); d != 5*time.Minute {
			t.Errorf("default query_timeout %s, want 5m", d)
		}
	})
	t.Run("required user file missing", func(t *testing.T) {
		_, err := Load(Sources{User: filepath.Join(dir, "absent.json"), UserRequired: true})
		if err == nil || !strings.Contains(err.Error(), "absent.json") {
			t.Fatalf("want an error naming the file, got %v", err)
		}
	})
}

type fakeKeyring map[string]string

func (k fakeKeyring) Get(s, u string) (string, error) {
	if v, ok := k[s+"/"+u]; ok {
		return v, nil
	}
	return "", keyring.ErrNotFound
}
func (k fakeKeyring) Set(s, u, p string) error { k[s+"/"+u] = p; return nil }
func (k fakeKeyring) Delete(s, u string) error { delete(k, s+"/"+u); return nil }

type brokenKeyring struct{}

func (brokenKeyring) Get(string, string) (string, error) { return "", errors.New("no secret service") }
func (brokenKeyring) Set(string, string, string) error   { return errors.New("no secret service") }
func (brokenKeyring) Delete(string, string) error        { return errors.New("no secret service") }

func TestSecrets(t *testing.T) {
	t.Parallel()
	d := Drill{User: "ann", URLs: []string{"https://drill:8047"}}
	t.Run("keyring round trip", func(t *testing.T) {
		s := Secrets{Keyring: fakeKeyring{}}
		where, err := s.SetDrillPassword(d, "pw 1")
		if err != nil || where != "keyring" {
			t.Fatalf("Set = %q, %v", where, err)
		}
		pw, from, err := s.DrillPassword(d)
		if err != nil || pw != "pw 1" || from != "keyring" {
			t.Fatalf("Get = %q, %q, %v", pw, from, err)
		}
	})
	t.Run("env wins", func(t *testing.T) {
		s := Secrets{Keyring: fakeKeyring{"fieldsync/ann@https://drill:8047": "k"}, Env: []string{"FIELDSYNC_DRILL_PASSWORD=e"}}
		pw, from, err := s.DrillPassword(d)
		if err != nil || pw != "e" || from != "env" {
			t.Fatalf("Get = %q, %q, %v", pw, from, err)
		}
	})
	t.Run("file fallback without keyring", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "sub", "drill-password")
		s := Secrets{Keyring: brokenKeyring{}, PasswordFile: f}
		where, err := s.SetDrillPassword(d, "filepw")
		if err != nil || where != "file" {
			t.Fatalf("Set = %q, %v", where, err)
		}
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("password file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
		}
		di, _ := os.Stat(filepath.Dir(f))
		if di.Mode().Perm() != 0o700 {
			t.Fatalf("password dir mode = %v, want 0700", di.Mode().Perm())
		}
		pw, from, err := s.DrillPassword(d)
		if err != nil || pw != "filepw" || from != "file" {
			t.Fatalf("Get = %q, %q, %v", pw, from, err)
		}
	})
	t.Run("file readable by others refused", func(t *testing.T) {
		f := writeFile(t, t.TempDir(), "pw", "x\n")
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Secrets{PasswordFile: f}.DrillPassword(d)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("want a chmod hint, got %v", err)
		}
	})
	t.Run("nothing stored", func(t *testing.T) {
		_, _, err := Secrets{Keyring: fakeKeyring{}}.DrillPassword(d)
		if !errors.Is(err, ErrNoPassword) {
			t.Fatalf("want ErrNoPassword, got %v", err)
		}
		_, _, err = Secrets{Keyring: brokenKeyring{}}.DrillPassword(d)
		if !errors.Is(err, ErrNoPassword) || !strings.Contains(err.Error(), "no secret service") {
			t.Fatalf("want ErrNoPassword naming the keyring failure, got %v", err)
		}
	})
}

func TestDefaultDataDirFollowsTheGivenEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  []string
		goos string
		want string
	}{
		{[]string{"HOME=/home/ann"}, "linux", "/home/ann/.local/state/fieldsync"},
		{[]string{"HOME=/home/ann", "XDG_STATE_HOME=/state"}, "linux", "/state/fieldsync"},
		{[]string{`AppData=C:\Users\ann\AppData\Roaming`}, "windows", `C:\Users\ann\AppData\Roaming\fieldsync`},
	}
	for _, tt := range tests {
		got, err := defaultDataDir(tt.env, tt.goos)
		if err != nil || got != tt.want {
			t.Errorf("defaultDataDir(%v, %s) = %q, %v; want %q", tt.env, tt.goos, got, err, tt.want)
		}
	}
}
