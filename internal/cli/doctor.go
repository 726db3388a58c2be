package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/service"
)

// Statuses of a doctor line.
const (
	statusOK   = service.CheckOK
	statusWarn = service.CheckWarn
	statusFail = service.CheckFail
)

// doctor collects check results.
type doctor struct {
	results []service.Check
	// storeTimeout bounds the store check; progress is where it reports
	// how far it is on large files (standard error).
	storeTimeout time.Duration
	progress     io.Writer
	// progressAbove is the journal size above which the store check
	// reports progress (0: progressJournal); tests lower it.
	progressAbove uint64
}

// progressJournal is the journal size above which the store check reports
// its progress: about a second of reading on a laptop.
const progressJournal = 20000

func (d *doctor) add(name, status, detail, hint string) {
	d.results = append(d.results, service.Check{Name: name, Status: status, Detail: detail, Hint: hint})
}

func (d *doctor) failed() int {
	n := 0
	for _, r := range d.results {
		if r.Status == statusFail {
			n++
		}
	}
	return n
}

func (d *doctor) print(w io.Writer, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d.results)
		return
	}
	for _, r := range d.results {
		mark := map[string]string{statusOK: "ok  ", statusWarn: "WARN", statusFail: "FAIL"}[r.Status]
		if len(r.Name) > 18 {
			fmt.Fprintf(w, "[%s] %s\n       %-18s %s\n", mark, r.Name, "", r.Detail)
		} else {
			fmt.Fprintf(w, "[%s] %-18s %s\n", mark, r.Name, r.Detail)
		}
		if r.Hint != "" {
			fmt.Fprintf(w, "       %-18s -> %s\n", "", r.Hint)
		}
	}
}

func runDoctor(ctx context.Context, env Env, args []string) error {
	fs, g := newFlagSet(env, "doctor")
	timeout := fs.Duration("timeout", 20*time.Second, "time allowed for each Drillbit check")
	storeTimeout := fs.Duration("store-timeout", 2*time.Minute, "time allowed for reading the whole store")
	if err := parse(fs, args); err != nil {
		return err
	}
	d := &doctor{storeTimeout: *storeTimeout, progress: env.Stderr}
	c, err := loadConfig(env, g)
	if err != nil {
		d.add("settings", statusFail, err.Error(), "fix the file named above; 'fieldsync doctor --json' shows every check")
		d.print(env.Stdout, g.json)
		return &ExitError{Code: 1, Err: fmt.Errorf("doctor: %d check(s) failed", d.failed())}
	}
	d.add("settings", statusOK, fmt.Sprintf("device=%q author=%q schedule=%q", c.Device, c.Author, c.Schedule), "")
	checkOrigins(d, env, g)
	checkDataDir(d, c.DataDir)
	checkPassword(d, env, c)
	for _, chk := range extraChecks() {
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		chk(cctx, d, env, c)
		cancel()
	}
	d.print(env.Stdout, g.json)
	if n := d.failed(); n > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("doctor: %d check(s) failed", n)}
	}
	return nil
}

// extraChecks are the checks that need the store, the collections and Drill.
func extraChecks() []func(context.Context, *doctor, Env, config.Config) {
	return []func(context.Context, *doctor, Env, config.Config){
		checkSchedule, checkCollections, checkStore, checkDrill, checkIngest,
	}
}

// checkOrigins tells where each setting not at its default came from, so
// IT sees what the managed file, a variable or a flag decided.
func checkOrigins(d *doctor, env Env, g *globals) {
	origins, err := originsFor(env, g)
	if err != nil {
		d.add("setting sources", statusFail, trimErr(err), "fix the file named above")
		return
	}
	keys := make([]string, 0, len(origins))
	for k := range origins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.add("setting "+k, statusOK, origins[k].String(), "")
	}
}

func checkDataDir(d *doctor, dir string) {
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		d.add("data dir", statusOK, dir+" (not created yet; made on first start, mode 0700)", "")
		return
	case err != nil:
		d.add("data dir", statusFail, err.Error(), "check the data_dir setting and its permissions")
		return
	case !fi.IsDir():
		d.add("data dir", statusFail, dir+" is not a directory", "point data_dir at a directory")
		return
	}
	if fi.Mode().Perm()&0o077 != 0 {
		d.add("data dir", statusWarn, fmt.Sprintf("%s is open to others (mode %v)", dir, fi.Mode().Perm()), "chmod 700 "+dir)
		return
	}
	probe := filepath.Join(dir, ".doctor-probe")
	if err := os.WriteFile(probe, []byte("x"), 0o600); err != nil {
		d.add("data dir", statusFail, "not writable: "+err.Error(), "free disk space or fix permissions of "+dir)
		return
	}
	_ = os.Remove(probe)
	d.add("data dir", statusOK, dir, "")
}

func secretsFor(env Env, c config.Config) config.Secrets {
	return service.SecretsFor(c, env.Keyring, env.Environ)
}

func checkPassword(d *doctor, env Env, c config.Config) {
	if c.Drill.Auth == "none" {
		d.add("credentials", statusOK, "Drill authentication is off (auth=none)", "")
		return
	}
	_, from, err := secretsFor(env, c).DrillPassword(c.Drill)
	if err != nil {
		d.add("credentials", statusFail, err.Error(), "run 'fieldsync login' (stores it in the OS keyring)")
		return
	}
	detail := fmt.Sprintf("password for %s found in the %s", c.Drill.User, from)
	if from == "file" {
		d.add("credentials", statusWarn, detail+" (no OS keyring on this machine)", "install a Secret Service (gnome-keyring) to keep it out of files")
		return
	}
	d.add("credentials", statusOK, detail, "")
}

// trimErr keeps error text to one line for the doctor table.
func trimErr(err error) string { return service.OneLine(err) }
