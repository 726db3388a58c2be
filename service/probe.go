package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config"
)

// Check statuses, as Check.Status holds them.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckFail = "fail"
)

// SupportedDrill is the Drill release line fieldsync is tested against.
const SupportedDrill = "1.22."

// probeSQL is the cheapest query every Drillbit plans and runs; it also
// reads the Drillbit's clock (TIMESTAMP comes back as epoch ms).
const probeSQL = "SELECT 1 AS ok, CURRENT_TIMESTAMP AS ms FROM (VALUES(1))"

// DrillbitProbe is what one Drillbit answered to ProbeDrill.
type DrillbitProbe struct {
	URL string
	// Err is why the Drillbit could not be asked (bad settings, down,
	// refused the login); the other fields are empty then.
	Err error
	// Cluster is what /cluster.json said.
	Cluster *drill.Cluster
	// QueryErr is why the probe query failed, nil when it ran.
	QueryErr error
	// Skew is this computer's clock minus the Drillbit's, measured by the
	// probe query (the query's time halved); ClockRead is false when the
	// query did not answer with a time.
	Skew      time.Duration
	ClockRead bool
}

// Supported reports whether the Drillbit runs the release line fieldsync
// is tested with.
func (p DrillbitProbe) Supported() bool {
	return p.Cluster != nil && strings.HasPrefix(p.Cluster.CurrentVersion, SupportedDrill)
}

// DrillProbe is what ProbeDrill found: each Drillbit on its own, then the
// workspace through the fail-over client.
type DrillProbe struct {
	Drillbits []DrillbitProbe
	// Workspace is plugin.workspace.
	Workspace string
	// WorkspaceChecked is false when no Drillbit answered queries.
	WorkspaceChecked bool
	// WorkspaceEntries is how many entries SHOW FILES listed.
	WorkspaceEntries int
	// WorkspaceErr is why the workspace did not answer.
	WorkspaceErr error
}

// ProbeDrill asks every Drillbit of c on its own for its cluster and runs
// a query on it, so that IT sees which one is down, then lists the
// workspace through the fail-over client. It is what `fieldsync doctor`
// and the Settings screen's "Test connection" both run; ctx bounds it.
func ProbeDrill(ctx context.Context, c config.Config, secrets config.Secrets) DrillProbe {
	out := DrillProbe{Workspace: c.Drill.Plugin + "." + c.Drill.Workspace}
	up := 0
	for _, u := range c.Drill.URLs {
		p := DrillbitProbe{URL: u}
		one := c
		one.Drill.URLs = []string{u}
		cl, err := NewDrillClient(one, secrets, nil)
		if err == nil {
			p.Cluster, err = cl.Cluster(ctx)
		}
		if err != nil {
			p.Err = err
			out.Drillbits = append(out.Drillbits, p)
			continue
		}
		before := time.Now()
		res, err := cl.Query(ctx, probeSQL)
		if p.QueryErr = err; err == nil {
			up++
			mid := before.Add(time.Since(before) / 2)
			if len(res.Rows) == 1 {
				if ms, err := strconv.ParseInt(fmt.Sprint(res.Rows[0]["ms"]), 10, 64); err == nil {
					p.Skew, p.ClockRead = mid.Sub(time.UnixMilli(ms)), true
				}
			}
		}
		out.Drillbits = append(out.Drillbits, p)
	}
	if up == 0 {
		return out
	}
	cl, err := NewDrillClient(c, secrets, nil)
	if err != nil {
		return out
	}
	out.WorkspaceChecked = true
	res, err := cl.Query(ctx, "SHOW FILES IN "+out.Workspace)
	if err != nil {
		out.WorkspaceErr = err
		return out
	}
	out.WorkspaceEntries = len(res.Rows)
	return out
}

// DrillHint says what to do about an error from Drill.
func DrillHint(err error) string {
	switch {
	case drill.IsAuthError(err):
		return "check drill.user and run 'fieldsync login' to store the right password"
	case errors.Is(err, drill.ErrUnavailable):
		return "is the Drillbit running and reachable from here? (firewall, VPN, URL)"
	case strings.Contains(err.Error(), "certificate"):
		return "set drill.ca_file to the PEM of the CA that signed the Drillbit's certificate"
	}
	return "see the Drillbit's log"
}

// ClockCheck words a Drillbit's clock skew against this computer's for
// a check line: its status, detail and hint.
func ClockCheck(p DrillbitProbe, bound time.Duration) (status, detail, hint string) {
	off := p.Skew.Abs().Round(time.Second)
	dir := "ahead of"
	if p.Skew < 0 {
		dir = "behind"
	}
	detail = fmt.Sprintf("this computer's clock is %s %s the Drillbit's (skew %d ms)", off, dir, p.Skew.Milliseconds())
	switch {
	case p.Skew.Abs() <= 2*time.Minute:
		return CheckOK, detail, ""
	case p.Skew > bound:
		return CheckFail, detail, fmt.Sprintf("changes made here are not sent while the clock is more than %s ahead: set the clock right (turn on automatic time / NTP)", bound)
	}
	return CheckWarn, detail, "set the clock right (turn on automatic time / NTP): a wrong clock decides which edit wins a conflict"
}

// OneLine keeps error text to one line of at most 300 bytes for a check.
func OneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// TestConnection checks the settings in against every Drillbit without
// saving them: the password, then reach, version, auth and query per
// Drillbit, then the workspace.
func (s *Service) TestConnection(ctx context.Context, in Settings) ([]Check, error) {
	cur, err := s.ready()
	if err != nil {
		return nil, err
	}
	c, err := s.apply(cur.cfg, in)
	if err != nil {
		return nil, err
	}
	var out []Check
	add := func(name, status, detail, hint string) {
		out = append(out, Check{Name: name, Status: status, Detail: detail, Hint: hint})
	}
	if len(c.Drill.URLs) == 0 {
		add("reach", CheckFail, "no Drillbit URL is set: changes stay on this computer", "enter the Drillbit URL, e.g. http://drill.example.org:8047")
		return out, nil
	}
	secrets := s.Secrets(c)
	if c.Drill.Auth != "none" {
		_, from, err := secrets.DrillPassword(c.Drill)
		if err != nil {
			add("auth", CheckFail, OneLine(err), "store the password with \"Set password\"")
			return out, nil
		}
		add("auth", CheckOK, fmt.Sprintf("password for %s found in the %s", c.Drill.User, from), "")
	}
	probe := ProbeDrill(ctx, c, secrets)
	for _, p := range probe.Drillbits {
		u := p.URL
		if p.Err != nil {
			add(failedCheck("reach", u, p.Err), CheckFail, OneLine(p.Err), DrillHint(p.Err))
			continue
		}
		add("reach "+u, CheckOK, fmt.Sprintf("%d Drillbit(s) in the cluster", len(p.Cluster.Drillbits)), "")
		if p.Supported() {
			add("version "+u, CheckOK, "Drill "+p.Cluster.CurrentVersion, "")
		} else {
			add("version "+u, CheckWarn, fmt.Sprintf("Drill %s; fieldsync is tested with %sx", p.Cluster.CurrentVersion, SupportedDrill), "upgrade Drill or test this version first")
		}
		if p.QueryErr != nil {
			add(failedCheck("query", u, p.QueryErr), CheckFail, OneLine(p.QueryErr), DrillHint(p.QueryErr))
			continue
		}
		if c.Drill.Auth != "none" {
			add("auth "+u, CheckOK, "signed in as "+c.Drill.User, "")
		}
		add("query "+u, CheckOK, "Drill answers queries", "")
	}
	switch {
	case !probe.WorkspaceChecked:
	case probe.WorkspaceErr != nil:
		add("workspace", CheckFail, OneLine(probe.WorkspaceErr), fmt.Sprintf("create the writable workspace %s in Drill's storage settings, or ask IT to set drill.location", probe.Workspace))
	default:
		add("workspace", CheckOK, fmt.Sprintf("%s answers (%d entries)", probe.Workspace, probe.WorkspaceEntries), "")
	}
	return out, nil
}

// failedCheck names the check a Drillbit failed: what was tried, or auth
// when Drill refused the login.
func failedCheck(what, url string, err error) string {
	if drill.IsAuthError(err) {
		return "auth " + url
	}
	return what + " " + url
}
