package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/store"
	"gopkg.in/natefinch/lumberjack.v2"
)

// version is set at build time with -ldflags -X.
var version = "dev"

// Env is what one run of the command line gets from its process.
type Env struct {
	Args    []string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Environ []string
	// Assets is the built web UI (frontend/dist).
	Assets fs.FS
	// Desktop opens the window; nil where there is none (tests, headless builds).
	Desktop DesktopFunc
	// Keyring is the OS keyring; nil means config.OSKeyring.
	Keyring config.Keyring
	// Self builds the command that runs this program again with args and
	// environ, for work that needs a process of its own (doctor's bbolt
	// page check); nil means this executable (os.Executable).
	Self func(ctx context.Context, environ, args []string) (*exec.Cmd, error)
}

// selfCommand is Env.Self, or this executable when it is nil.
func (env Env) selfCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	if env.Self != nil {
		return env.Self(ctx, env.Environ, args)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	c := exec.CommandContext(ctx, exe, args...)
	c.Env = env.Environ
	return c, nil
}

// ExitError carries a specific exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// errUsage marks a wrong invocation (exit code 2).
var errUsage = errors.New("usage")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

// commands lists the subcommands; it is a read-only table.
func commands() []command {
	return []command{
		{"agent", "run the sync schedule headless until stopped (SIGTERM/Ctrl-C)", runAgent},
		{"compact", "IT's server job: fold closed hours of the change logs into large verified files: compact [--once] [--json-only] [--collection NAME]", runCompact},
		{"conflicts", "list, show or resolve conflicts: conflicts list|show C/ID|resolve C/ID --take ...", runConflicts},
		{"export", "write a collection's current records as JSON lines: export --collection NAME", runExport},
		{"ingest", "turn rows analysts wrote into the collections' inboxes in Drill into changes: ingest [--once]", runIngest},
		{"import", "journal records from JSON lines: import --collection NAME FILE.jsonl", runImport},
		{"status", "show pending changes, conflicts, quarantined data and records", runStatus},
		{"quarantine", "pulled data kept out of the store: quarantine list | show ID | retry ID... | retry --all", runQuarantine},
		{"store", "repair the local store: store salvage [--out FILE]", runStore},
		{"sync", "push and pull once now; exits non-zero with the reason when it fails", runSync},
		{"doctor", "check settings, store, keyring and every Drillbit; explain what is wrong", runDoctor},
		{"login", "store the Drill password in the OS keyring", runLogin},
		{"settings", "print the settings in force (all layers applied) as JSON", runSettings},
		{"serve", "serve the UI to a browser on 127.0.0.1 and sync; prints the address to open (key included) first", runServe},
		{"version", "print the version", runVersion},
	}
}

// exitInternal is the exit code of a failure that is fieldsync's own bug
// (EX_SOFTWARE): a panic that reached Main.
const exitInternal = 70

// exitDamaged is the exit code when the store file is damaged: distinct
// from a wrong invocation (2), so scripts and IT can tell it.
const exitDamaged = 3

// Main runs the command line and returns the process exit code. Whatever
// happens, a person gets one line on standard error, never a stack trace:
// a panic is told as an internal error.
func Main(ctx context.Context, env Env) (code int) {
	defer func() {
		if r := recover(); r != nil {
			if env.Stderr != nil {
				fmt.Fprintf(env.Stderr, "fieldsync: internal error: %v (a bug in fieldsync: please report it with the log in the data dir's logs folder)\n", r)
			}
			code = exitInternal
		}
	}()
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Keyring == nil {
		env.Keyring = config.OSKeyring{}
	}
	err := dispatch(ctx, env)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(env.Stderr, "fieldsync: %v\n", err)
	var ee *ExitError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, store.ErrDamaged):
		return exitDamaged
	}
	return 1
}

func dispatch(ctx context.Context, env Env) error {
	args := env.Args
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage(env.Stdout)
		return nil
	}
	// Global flags may stand before the command, as with git or docker:
	// "fieldsync --data-dir D serve" is "fieldsync serve --data-dir D".
	lead, rest := leadingFlags(env, args)
	if len(rest) == 0 {
		return runDesktop(ctx, env, args)
	}
	name := rest[0]
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, env, withFlags(rest[1:], lead))
		}
	}
	usage(env.Stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, name)
}

// withFlags puts flags that stood before the command after its own words
// (a subcommand such as "conflicts list" stays first) but before a "--",
// after which everything is positional.
func withFlags(args, flags []string) []string {
	out := make([]string, 0, len(args)+len(flags))
	i := slices.Index(args, "--")
	if i < 0 {
		i = len(args)
	}
	out = append(out, args[:i]...)
	out = append(out, flags...)
	return append(out, args[i:]...)
}

// leadingFlags splits args into the flags before the first other word and
// the rest. A flag that takes a value takes the next word with it unless it
// is written -flag=value; an unknown flag is kept for the command's own
// parser to name in its usage error.
func leadingFlags(env Env, args []string) (lead, rest []string) {
	fs, _ := newFlagSet(env, "")
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			break
		}
		i++
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i < len(args) {
			i++ // the flag's value
		}
	}
	if i < len(args) && args[i] == "--" {
		return args[:i], nil
	}
	return append([]string(nil), args[:i]...), args[i:]
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: fieldsync [command] [flags]")
	fmt.Fprintln(w, "\nWith no command, fieldsync opens its window. Commands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE, --data-dir DIR, --drill URL[,URL...],")
	fmt.Fprintln(w, "--workspace NAME, --device NAME; 'fieldsync COMMAND -h' lists its flags.")
}

// globals are the flags every command takes.
type globals struct {
	configFile  string
	dataDir     string
	drill       string
	workspace   string
	device      string
	collections string
	logLevel    string
	json        bool
	// quiet logs only warnings to the terminal (commands that print results).
	quiet bool
}

func newFlagSet(env Env, name string) (*flag.FlagSet, *globals) {
	fs := flag.NewFlagSet("fieldsync "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	g := &globals{}
	fs.StringVar(&g.configFile, "config", "", "settings `file` (default: the user's config.json)")
	fs.StringVar(&g.dataDir, "data-dir", "", "`dir` of the local store and logs")
	fs.StringVar(&g.drill, "drill", "", "Drillbit `URL`s, comma-separated")
	fs.StringVar(&g.workspace, "workspace", "", "Drill workspace `name`")
	fs.StringVar(&g.device, "device", "", "device `name`")
	fs.StringVar(&g.collections, "collections", "", "collection declarations `file`")
	fs.StringVar(&g.logLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&g.json, "json", false, "print JSON")
	return fs, g
}

// parse parses flags wherever they stand among the positional arguments
// ("resolve C/ID --take server" as well as "resolve --take server C/ID"),
// leaving the positional ones in fs.Args(). "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// originsFor says where each key that is not at its default comes from,
// flags included.
func originsFor(env Env, g *globals) (map[string]config.Origin, error) {
	out, err := config.Origins(sourcesFor(env, g))
	if err != nil {
		return nil, err
	}
	for _, f := range g.settingFlags() {
		if f.value != "" {
			out[f.key] = config.Origin{Layer: config.LayerFlag, Where: "--" + f.flag}
		}
	}
	return out, nil
}

// sourcesFor names the settings layers of a run: the managed file, the
// user's file (--config, FIELDSYNC_CONFIG or the default) and the environment.
func sourcesFor(env Env, g *globals) config.Sources {
	src := config.Sources{Managed: config.ManagedFile(), Env: env.Environ}
	if v, ok := config.LookupEnv(env.Environ, "FIELDSYNC_MANAGED_CONFIG"); ok {
		src.Managed = v
	}
	if g.configFile != "" {
		src.User, src.UserRequired = g.configFile, true
	} else if v, ok := config.LookupEnv(env.Environ, "FIELDSYNC_CONFIG"); ok {
		src.User, src.UserRequired = v, true
	} else if p, err := config.UserFile(); err == nil {
		src.User = p
	}
	return src
}

// settingFlags lists the global flags that set a settings key, with the
// value given (empty when the flag was not given).
func (g *globals) settingFlags() []struct{ flag, key, value string } {
	return []struct{ flag, key, value string }{
		{"data-dir", "data_dir", g.dataDir},
		{"drill", "drill.urls", g.drill},
		{"workspace", "drill.workspace", g.workspace},
		{"device", "device", g.device},
		{"collections", "collections", g.collections},
		{"log-level", "log.level", g.logLevel},
	}
}

// loadConfig applies the settings layers and then the flags; a flag that
// tries to change what IT's managed file sets is refused.
func loadConfig(env Env, g *globals) (config.Config, error) {
	src := sourcesFor(env, g)
	c, err := config.Load(src)
	if err != nil {
		return c, err
	}
	for _, f := range g.settingFlags() {
		if f.value == "" {
			continue
		}
		if err := config.CheckLocked(src, f.key, "the command-line flag --"+f.flag); err != nil {
			return c, err
		}
	}
	if g.dataDir != "" {
		c.DataDir = g.dataDir
	}
	if g.drill != "" {
		c.Drill.URLs = config.SplitList(g.drill)
	}
	if g.workspace != "" {
		c.Drill.Workspace = g.workspace
	}
	if g.device != "" {
		c.Device = g.device
	}
	if g.collections != "" {
		c.Collections = g.collections
	}
	if g.logLevel != "" {
		c.Log.Level = g.logLevel
	}
	if c.DataDir == "" {
		d, err := config.DefaultDataDir(env.Environ)
		if err != nil {
			return c, err
		}
		c.DataDir = d
	}
	if c.Author == "" {
		if u, err := user.Current(); err == nil {
			c.Author = u.Username
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// newLogger builds the process logger: text or JSON on w at the set level.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// LogFile is the log's name in <data-dir>/logs; rotated files are named
// after it with their time (fieldsync-2006-01-02T15-04-05.000.log).
const LogFile = "fieldsync.log"

// openLogFile opens <data-dir>/logs/fieldsync.log for appending (0600),
// rotated when it reaches c.MaxSizeMB, keeping c.MaxFiles rotated files.
// It fails at once when the file cannot be written, not at the first line.
func openLogFile(dataDir string, c config.Log) (io.WriteCloser, error) {
	dir := filepath.Join(dataDir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	name := filepath.Join(dir, LogFile)
	f, err := os.OpenFile(name, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	// lumberjack creates each new file 0600 like this one, in this 0700
	// directory; it deletes files past MaxBackups in the background.
	return &lumberjack.Logger{Filename: name, MaxSize: c.MaxSizeMB, MaxBackups: c.MaxFiles}, nil
}

func runVersion(_ context.Context, env Env, args []string) error {
	fs, _ := newFlagSet(env, "version")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "fieldsync %s\n", version)
	return nil
}
