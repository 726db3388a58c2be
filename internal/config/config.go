package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is the whole of fieldsync's settings.
type Config struct {
	// DataDir holds the bbolt store and logs. Empty means DefaultDataDir.
	DataDir string `json:"data_dir,omitempty"`
	// Device names this machine in Drill. Empty means the store's generated id.
	Device string `json:"device,omitempty"`
	// Author is who edits on this machine; empty means the OS user name.
	Author string `json:"author,omitempty"`
	// Collections is the path of the collection declarations file.
	Collections string `json:"collections,omitempty"`
	// Schedule is the cron spec of automatic syncs ("@every 5m", "*/10 * * * *").
	Schedule string `json:"schedule,omitempty"`
	// Scope holds values a reference collection's query may name as
	// ${key} ({"region": "north"}), usually set by IT per device.
	Scope   map[string]string `json:"scope,omitempty"`
	Drill   Drill             `json:"drill"`
	Log     Log               `json:"log"`
	Metrics Metrics           `json:"metrics"`
	Compact Compact           `json:"compact"`
	Ingest  Ingest            `json:"ingest"`
}

// Compact configures `fieldsync compact`, run by IT on a server.
type Compact struct {
	// Schedule is the cron spec of compaction passes when the command
	// runs without --once ("@hourly").
	Schedule string `json:"schedule,omitempty"`
	// JSONSchedule is the cron spec of light passes (fieldsync compact
	// --json-only: JSON batches rewritten as Parquet, nothing folded) when
	// the command runs without --once; "" (the default) runs none. For a
	// fleet writing JSON batches (drill.batch_format), e.g. "@every 2m".
	JSONSchedule string `json:"json_schedule,omitempty"`
	// JSONSettle is how old a JSON batch's name must be before a pass
	// rewrites it as Parquet ("45m"; 1m to 24h).
	JSONSettle Duration `json:"json_settle,omitempty"`
}

// Ingest configures the server-side ingester (fieldsync ingest), which
// turns rows analysts write into a collection's inbox in Drill into
// changes devices pull.
type Ingest struct {
	// Schedule is the cron spec of ingest passes when fieldsync ingest runs
	// without --once ("@every 1m").
	Schedule string `json:"schedule,omitempty"`
	// Settle is how long after its last change an inbox table is left
	// alone, so a CTAS still writing it is never read half done ("10s").
	Settle Duration `json:"settle,omitempty"`
}

// ServerDevice is the device name of changes made in Drill by the
// ingester; no machine may take it (agent.ServerDevice).
const ServerDevice = "server"

// Drill says how to reach the Drill cluster.
type Drill struct {
	// URLs are Drillbit base URLs, tried in order with fail-over.
	URLs []string `json:"urls,omitempty"`
	// Plugin is the file-system storage plugin (default "dfs").
	Plugin string `json:"plugin,omitempty"`
	// Workspace is fieldsync's workspace inside Plugin (default "fieldsync").
	Workspace string `json:"workspace,omitempty"`
	// Location is the workspace directory to create when the workspace is
	// missing and fieldsync may create it; empty means never create it.
	Location string `json:"location,omitempty"`
	// Auth is "none", "basic" or "form".
	Auth string `json:"auth,omitempty"`
	// User is the Drill user name; its password is in the OS keyring.
	User string `json:"user,omitempty"`
	// CAFile is a PEM file of extra certificate authorities for HTTPS.
	CAFile string `json:"ca_file,omitempty"`
	// Timeout bounds one REST call ("60s").
	Timeout Duration `json:"timeout,omitempty"`
	// QueryTimeout bounds one query ("5m"); a query past it is cancelled
	// in Drill.
	QueryTimeout Duration `json:"query_timeout,omitempty"`
	// BatchRows bounds the changes of one pushed batch (0: the engine's
	// default, chosen by measurement; see docs/BENCHMARKS.md).
	BatchRows int `json:"batch_rows,omitempty"`
	// BatchFormat is the file format pushed batches are written in:
	// "parquet" (the default) or "json" (cheaper for Drill to read; turn
	// it on once every device runs a release that reads both).
	BatchFormat string `json:"batch_format,omitempty"`
	// PushParallel bounds the batches a push has in flight at once (0: the
	// engine's default, chosen by measurement; see docs/BENCHMARKS.md).
	PushParallel int `json:"push_parallel,omitempty"`
	// MaxClockAhead bounds how far ahead of both this computer's clock and
	// Drill's clock a pulled version may be ("24h"); a row further ahead is
	// quarantined and never moves this computer's clock.
	MaxClockAhead Duration `json:"max_clock_ahead,omitempty"`
	// PullRetries is how many failed reads of a pulled batch (a 0-byte
	// file left by a killed CTAS, an empty directory) set it aside in the
	// quarantine (0: the engine's default, 8 reads with backoff).
	PullRetries int `json:"pull_retries,omitempty"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `json:"level,omitempty"`
	// Format is "text" or "json", for the terminal and the log file alike.
	Format string `json:"format,omitempty"`
	// MaxSizeMB is the size (MiB) at which the log file is rotated: it is
	// renamed with its time (fieldsync-2006-01-02T15-04-05.000.log) and a
	// new one started.
	MaxSizeMB int `json:"max_size_mb,omitempty"`
	// MaxFiles is how many rotated files are kept beside the current one;
	// older ones are deleted.
	MaxFiles int `json:"max_files,omitempty"`
}

// Metrics configures the Prometheus metrics endpoint.
type Metrics struct {
	// Addr is the loopback address ("127.0.0.1:9464") that serves
	// http://ADDR/metrics while the sync schedule runs; empty serves none.
	// Metrics are for this machine's collector only: any other address is
	// refused.
	Addr string `json:"addr,omitempty"`
}

// Duration is a time.Duration written as text ("90s", "5m") in JSON.
type Duration time.Duration

// MarshalJSON writes d as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads text like "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want text like \"60s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// setDuration returns an environment setter of the duration field that
// field points to; example shows a valid value in the error.
func setDuration(example string, field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("want a duration such as %s, got %q", example, v)
		}
		*field(c) = Duration(d)
		return nil
	}
}

// Default returns the built-in settings.
func Default() Config {
	return Config{
		Schedule: "@every 5m",
		Compact:  Compact{Schedule: "@hourly", JSONSettle: Duration(45 * time.Minute)},
		Drill: Drill{
			Plugin:    "dfs",
			Workspace: "fieldsync",
			Auth:      "none",
			Timeout:   Duration(60 * time.Second),
			// QueryTimeout: see drill.DefaultQueryTimeout.
			QueryTimeout: Duration(5 * time.Minute),
			// MaxClockAhead: a day covers time zones set wrong and
			// clocks never synchronised, and stops a year-ahead device.
			MaxClockAhead: Duration(24 * time.Hour),
		},
		Log:    Log{Level: "info", Format: "text", MaxSizeMB: 10, MaxFiles: 5},
		Ingest: Ingest{Schedule: "@every 1m", Settle: Duration(10 * time.Second)},
	}
}

// ManagedFile is the machine-wide file IT deploys (see managedFileFor).
func ManagedFile() string { return managedFileFor(runtime.GOOS, os.Getenv) }

// UserFile is the per-user settings file.
func UserFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return filepath.Join(dir, "fieldsync", "config.json"), nil
}

// DefaultDataDir is where the store lives when no data_dir is set, for a
// process whose environment is environ ("KEY=value" entries): on Linux
// $XDG_STATE_HOME/fieldsync or ~/.local/state/fieldsync, elsewhere the
// user's configuration folder (%AppData%\fieldsync on Windows). HOME,
// XDG_STATE_HOME and AppData are read from environ, so a test's sandbox
// never reaches the real user's files; the process's own are used only when
// environ lacks them.
func DefaultDataDir(environ []string) (string, error) {
	return defaultDataDir(environ, runtime.GOOS)
}

func defaultDataDir(environ []string, goos string) (string, error) {
	join := func(base string) string {
		if goos == "windows" {
			return base + `\fieldsync`
		}
		return filepath.Join(base, "fieldsync")
	}
	if goos == "windows" {
		if d, ok := LookupEnv(environ, "AppData"); ok {
			return join(d), nil
		}
	}
	if goos == "linux" {
		if d, ok := LookupEnv(environ, "XDG_STATE_HOME"); ok {
			return join(d), nil
		}
		home, ok := LookupEnv(environ, "HOME")
		if !ok {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("config: %w", err)
			}
		}
		return filepath.Join(home, ".local", "state", "fieldsync"), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return join(dir), nil
}

// Sources names the files a Load reads; an empty name is skipped.
type Sources struct {
	User    string
	Managed string
	// Env is the environment to read FIELDSYNC_* from (os.Environ() form);
	// nil means none.
	Env []string
	// UserRequired makes a missing user file an error (it was named by --config).
	UserRequired bool
}

// Load reads the layers and validates the result.
func Load(src Sources) (Config, error) {
	c := Default()
	if src.User != "" {
		if err := mergeFile(&c, src.User, src.UserRequired); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&c, src.Env); err != nil {
		return Config{}, err
	}
	// The managed file goes last: what IT set is locked, and a variable
	// that tries to change it is refused with IT named.
	if src.Managed != "" {
		if err := mergeFile(&c, src.Managed, false); err != nil {
			return Config{}, err
		}
		if err := checkEnvLocks(src); err != nil {
			return Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func mergeFile(c *Config, path string, required bool) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config: %s: %s", path, describeJSONError(b, err))
	}
	return nil
}

// describeJSONError turns a decoder error into text naming the line.
func describeJSONError(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("line %d: %v", 1+bytes.Count(b[:se.Offset], []byte("\n")), err)
	case errors.As(err, &te):
		return fmt.Sprintf("line %d: %q must be %s, not a JSON %s",
			1+bytes.Count(b[:te.Offset], []byte("\n")), te.Field, te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ") + " (check the spelling; see docs/CONFIG.md)"
	}
	return err.Error()
}

// envKeys lists the environment variables Load reads, with what each sets.
// It is a read-only table.
var envKeys = []struct {
	name, key string // the variable and the dotted settings key it sets
	set       func(*Config, string) error
}{
	{"FIELDSYNC_DATA_DIR", "data_dir", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"FIELDSYNC_DEVICE", "device", func(c *Config, v string) error { c.Device = v; return nil }},
	{"FIELDSYNC_COLLECTIONS", "collections", func(c *Config, v string) error { c.Collections = v; return nil }},
	{"FIELDSYNC_SCHEDULE", "schedule", func(c *Config, v string) error { c.Schedule = v; return nil }},
	{"FIELDSYNC_COMPACT_SCHEDULE", "compact.schedule", func(c *Config, v string) error { c.Compact.Schedule = v; return nil }},
	{"FIELDSYNC_COMPACT_JSON_SCHEDULE", "compact.json_schedule", func(c *Config, v string) error { c.Compact.JSONSchedule = v; return nil }},
	{"FIELDSYNC_COMPACT_JSON_SETTLE", "compact.json_settle",
		setDuration("45m", func(c *Config) *Duration { return &c.Compact.JSONSettle })},
	{"FIELDSYNC_DRILL_URLS", "drill.urls", func(c *Config, v string) error { c.Drill.URLs = SplitList(v); return nil }},
	{"FIELDSYNC_DRILL_WORKSPACE", "drill.workspace", func(c *Config, v string) error { c.Drill.Workspace = v; return nil }},
	{"FIELDSYNC_DRILL_LOCATION", "drill.location", func(c *Config, v string) error { c.Drill.Location = v; return nil }},
	{"FIELDSYNC_DRILL_BATCH_ROWS", "drill.batch_rows", wholeNumber(func(c *Config, n int) { c.Drill.BatchRows = n })},
	{"FIELDSYNC_DRILL_BATCH_FORMAT", "drill.batch_format", func(c *Config, v string) error { c.Drill.BatchFormat = v; return nil }},
	{"FIELDSYNC_DRILL_PUSH_PARALLEL", "drill.push_parallel", wholeNumber(func(c *Config, n int) { c.Drill.PushParallel = n })},
	{"FIELDSYNC_DRILL_MAX_CLOCK_AHEAD", "drill.max_clock_ahead",
		setDuration("24h", func(c *Config) *Duration { return &c.Drill.MaxClockAhead })},
	{"FIELDSYNC_DRILL_PULL_RETRIES", "drill.pull_retries", wholeNumber(func(c *Config, n int) { c.Drill.PullRetries = n })},
	{"FIELDSYNC_DRILL_QUERY_TIMEOUT", "drill.query_timeout",
		setDuration("5m", func(c *Config) *Duration { return &c.Drill.QueryTimeout })},
	{"FIELDSYNC_DRILL_USER", "drill.user", func(c *Config, v string) error { c.Drill.User = v; return nil }},
	{"FIELDSYNC_DRILL_AUTH", "drill.auth", func(c *Config, v string) error { c.Drill.Auth = v; return nil }},
	{"FIELDSYNC_DRILL_CA_FILE", "drill.ca_file", func(c *Config, v string) error { c.Drill.CAFile = v; return nil }},
	{"FIELDSYNC_LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"FIELDSYNC_METRICS_ADDR", "metrics.addr", func(c *Config, v string) error { c.Metrics.Addr = v; return nil }},
	{"FIELDSYNC_INGEST_SCHEDULE", "ingest.schedule", func(c *Config, v string) error { c.Ingest.Schedule = v; return nil }},
	{"FIELDSYNC_INGEST_SETTLE", "ingest.settle", setDuration("10s", func(c *Config) *Duration { return &c.Ingest.Settle })},
}

// wholeNumber adapts a setter of a whole-number setting to an environment
// variable's text.
func wholeNumber(set func(*Config, int)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		set(c, n)
		return nil
	}
}

// EnvNames returns the names of the environment variables Load reads.
func EnvNames() []string {
	out := make([]string, len(envKeys))
	for i, k := range envKeys {
		out[i] = k.name
	}
	return out
}

func applyEnv(c *Config, env []string) error {
	vals := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vals[k] = v
		}
	}
	for _, k := range envKeys {
		if v, ok := vals[k.name]; ok && v != "" {
			if err := k.set(c, v); err != nil {
				return fmt.Errorf("config: %s: %w", k.name, err)
			}
		}
	}
	return nil
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Read-only patterns.
var (
	nameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	deviceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// Validate reports the first setting that cannot work, in words for people.
func (c Config) Validate() error {
	for _, u := range c.Drill.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("config: drill url %q: want http://host:port or https://host:port", u)
		}
	}
	if !nameRE.MatchString(c.Drill.Plugin) {
		return fmt.Errorf("config: drill plugin %q: want letters, digits and _", c.Drill.Plugin)
	}
	if !nameRE.MatchString(c.Drill.Workspace) {
		return fmt.Errorf("config: drill workspace %q: want letters, digits and _", c.Drill.Workspace)
	}
	switch c.Drill.Auth {
	case "none":
	case "basic", "form":
		if c.Drill.User == "" {
			return fmt.Errorf("config: drill auth %q needs a user", c.Drill.Auth)
		}
	default:
		return fmt.Errorf("config: drill auth %q: want none, basic or form", c.Drill.Auth)
	}
	if c.Drill.Timeout < Duration(time.Second) {
		return fmt.Errorf("config: drill timeout %s is shorter than 1s", time.Duration(c.Drill.Timeout))
	}
	if d := time.Duration(c.Drill.QueryTimeout); d < time.Second || d > 24*time.Hour {
		return fmt.Errorf("config: drill query_timeout %s: want 1s to 24h; default 5m", d)
	}
	if c.Drill.BatchRows < 0 || c.Drill.BatchRows > 100_000 {
		return fmt.Errorf("config: drill batch_rows %d: want 0 (default) to 100000", c.Drill.BatchRows)
	}
	switch c.Drill.BatchFormat {
	case "", "parquet", "json":
	default:
		return fmt.Errorf("config: drill batch_format %q: want parquet or json; default parquet", c.Drill.BatchFormat)
	}
	if c.Drill.PushParallel < 0 || c.Drill.PushParallel > 8 {
		return fmt.Errorf("config: drill push_parallel %d: want 0 (default) to 8", c.Drill.PushParallel)
	}
	if c.Drill.PullRetries < 0 || c.Drill.PullRetries > 100 {
		return fmt.Errorf("config: drill pull_retries %d: want 0 (default, 8) to 100", c.Drill.PullRetries)
	}
	if d := time.Duration(c.Drill.MaxClockAhead); d < time.Minute || d > 366*24*time.Hour {
		return fmt.Errorf("config: drill max_clock_ahead %s: want 1m to 8784h (a year); default 24h", d)
	}
	if c.Device != "" && !deviceRE.MatchString(c.Device) {
		return fmt.Errorf("config: device %q: want 1-64 letters, digits, '.', '_' or '-'", c.Device)
	}
	if d := time.Duration(c.Compact.JSONSettle); d < time.Minute || d > 24*time.Hour {
		return fmt.Errorf("config: compact json_settle %s: want 1m to 24h; default 45m", d)
	}
	if d := time.Duration(c.Ingest.Settle); d < time.Millisecond || d > time.Hour {
		return fmt.Errorf("config: ingest settle %s: want 1ms to 1h; default 10s", d)
	}
	if strings.EqualFold(c.Device, ServerDevice) {
		return fmt.Errorf("config: device %q is the name of changes made in Drill (fieldsync ingest): give this machine another name", c.Device)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log format %q: want text or json", c.Log.Format)
	}
	if c.Log.MaxSizeMB < 1 || c.Log.MaxSizeMB > 1024 {
		return fmt.Errorf("config: log max_size_mb %d: want 1 to 1024 (MiB)", c.Log.MaxSizeMB)
	}
	if c.Log.MaxFiles < 1 || c.Log.MaxFiles > 100 {
		return fmt.Errorf("config: log max_files %d: want 1 to 100 rotated files to keep", c.Log.MaxFiles)
	}
	if c.Metrics.Addr != "" {
		if err := checkLoopback(c.Metrics.Addr); err != nil {
			return fmt.Errorf("config: metrics addr %q: %w", c.Metrics.Addr, err)
		}
	}
	return nil
}

// checkLoopback accepts host:port where host is localhost or a loopback IP
// and port a number: metrics tell a machine's state and are served to that
// machine's own collector only.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, e.g. 127.0.0.1:9464")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("not a loopback address: metrics are served to this machine only (use 127.0.0.1:PORT or [::1]:PORT)")
	}
	return nil
}

// LookupEnv returns the value of key in environ ("KEY=value" entries), and
// whether it is set to something other than empty.
func LookupEnv(environ []string, key string) (string, bool) {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, key+"="); ok && v != "" {
			return v, true
		}
	}
	return "", false
}
