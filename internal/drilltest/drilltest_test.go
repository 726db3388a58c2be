package drilltest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

func TestMain(m *testing.M) { drilltest.Main(m) }

// queryResult is the part of Drill's /query.json answer the tests look at.
type queryResult struct {
	QueryState string           `json:"queryState"`
	Columns    []string         `json:"columns"`
	Rows       []map[string]any `json:"rows"`
	ErrorMsg   string           `json:"errorMessage"`
}

// noRedirects is a client that reports redirects instead of following them,
// as fieldsync's Drill client does.
func noRedirects(jar http.CookieJar) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Jar:     jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// postQuery sends sql to base/query.json and returns the response.
func postQuery(tb testing.TB, c *http.Client, base, sql string, auth func(*http.Request)) *http.Response {
	tb.Helper()
	body, err := json.Marshal(map[string]string{"queryType": "SQL", "query": sql})
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/query.json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("POST %s/query.json: %v", base, err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

// mustQuery runs sql and fails tb unless Drill completes it.
func mustQuery(tb testing.TB, c *http.Client, base, sql string, auth func(*http.Request)) queryResult {
	tb.Helper()
	resp := postQuery(tb, c, base, sql, auth)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s: HTTP %s: %s", sql, resp.Status, raw)
	}
	var res queryResult
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		tb.Fatalf("%s: decode %s: %v", sql, raw, err)
	}
	if res.QueryState != "COMPLETED" {
		tb.Fatalf("%s: query state %q: %s", sql, res.QueryState, raw)
	}
	return res
}

// uniqueTable returns a table name no other test or run uses.
func uniqueTable(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano())
}

func TestSelectOne(t *testing.T) {
	t.Parallel()
	res := mustQuery(t, noRedirects(nil), drilltest.URL(t), "SELECT 1 AS one", nil)
	if len(res.Rows) != 1 || fmt.Sprint(res.Rows[0]["one"]) != "1" {
		t.Fatalf("rows = %v, want [{one:1}]", res.Rows)
	}
}

func TestCTASReadBack(t *testing.T) {
	t.Parallel()
	base, c := drilltest.URL(t), noRedirects(nil)
	table := uniqueTable("drilltest_ctas")
	res := mustQuery(t, c, base, "CREATE TABLE dfs.fieldsync.`"+table+"` AS "+
		"SELECT * FROM (VALUES (1, 'one'), (2, 'two')) AS t(id, name)", nil)
	if len(res.Rows) != 1 || fmt.Sprint(res.Rows[0]["Number of records written"]) != "2" {
		t.Fatalf("CTAS result = %v, want 2 records written", res.Rows)
	}
	if _, err := os.Stat(filepath.Join(drilltest.WorkspaceDir(t), table)); err != nil {
		t.Fatalf("table directory not in WorkspaceDir: %v", err)
	}
	res = mustQuery(t, c, base, "SELECT id, name FROM dfs.fieldsync.`"+table+"` ORDER BY id", nil)
	got := fmt.Sprint(res.Rows)
	if want := "[map[id:1 name:one] map[id:2 name:two]]"; got != want {
		t.Fatalf("read back %s, want %s", got, want)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	base := drilltest.AuthURL(t)
	basic := func(user, pw string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pw) }
	}
	tests := []struct {
		name     string
		auth     func(*http.Request)
		wantCode int
	}{
		{"no credentials", nil, http.StatusTemporaryRedirect},
		{"wrong password", basic(drilltest.AuthUser, drilltest.WrongPassword), http.StatusTemporaryRedirect},
		{"unknown user", basic("nobody", drilltest.AuthPassword), http.StatusTemporaryRedirect},
		{"basic", basic(drilltest.AuthUser, drilltest.AuthPassword), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := postQuery(t, noRedirects(nil), base, "SELECT 1 AS one", tt.auth)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %s, want %d", resp.Status, tt.wantCode)
			}
			if tt.wantCode == http.StatusTemporaryRedirect {
				if loc := resp.Header.Get("Location"); !strings.Contains(loc, "/mainLogin") {
					t.Fatalf("redirect to %q, want /mainLogin", loc)
				}
				return
			}
			var res queryResult
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || res.QueryState != "COMPLETED" {
				t.Fatalf("query state %q (decode error %v), want COMPLETED", res.QueryState, err)
			}
		})
	}

	t.Run("form", func(t *testing.T) {
		t.Parallel()
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := noRedirects(jar)
		resp, err := c.PostForm(base+"/j_security_check", url.Values{
			"j_username": {drilltest.AuthUser}, "j_password": {drilltest.AuthPassword}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(jar.Cookies(u)) == 0 {
			t.Fatalf("FORM login answered %s without a session cookie", resp.Status)
		}
		mustQuery(t, c, base, "SELECT 1 AS one", nil)
	})
}

func TestStartRestart(t *testing.T) {
	t.Parallel()
	d := drilltest.Start(t, drilltest.Options{})
	c := noRedirects(nil)
	table := uniqueTable("drilltest_restart")
	mustQuery(t, c, d.URL(), "CREATE TABLE dfs.fieldsync.`"+table+"` AS SELECT 42 AS answer FROM (VALUES(1))", nil)
	before := d.URL()

	d.Restart()
	if d.URL() != before {
		t.Fatalf("URL after restart %s, want %s", d.URL(), before)
	}
	res := mustQuery(t, c, d.URL(), "SELECT answer FROM dfs.fieldsync.`"+table+"`", nil)
	if fmt.Sprint(res.Rows) != "[map[answer:42]]" {
		t.Fatalf("after restart read %v, want [map[answer:42]]", res.Rows)
	}

	d.Stop()
	if resp, err := http.Get(before + "/status.json"); err == nil {
		resp.Body.Close()
		t.Fatalf("%s still answers after Stop", before)
	}
}
