package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fieldsync/fieldsync/app/bridge"
	"github.com/fieldsync/fieldsync/internal/config/configtest"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

// servedUI is one in-process `fieldsync serve` and a browser-like client
// holding its session cookies.
type servedUI struct {
	tb      testing.TB
	base    *url.URL // http://127.0.0.1:PORT
	client  *http.Client
	csrf    string
	url     string // the address serve printed, key included
	dataDir string
	stderr  *syncBuffer
	stop    func() int // cancels serve and returns its exit code
}

// unreachableDrill is a Drillbit URL nothing listens on (the discard port).
const unreachableDrill = "http://127.0.0.1:9"

func mustServe(tb testing.TB) *servedUI {
	tb.Helper()
	return mustServeIn(tb, tb.TempDir(), "--addr", "127.0.0.1:0")
}

// mustServeIn runs `fieldsync serve` with its home (and data dir) in home,
// which a later call may reuse, and the extra arguments.
func mustServeIn(tb testing.TB, home string, extra ...string) *servedUI {
	tb.Helper()
	cols := filepath.Join(home, "collections.json")
	if err := os.WriteFile(cols, []byte(`{"collections":[{"name":"sites","fields":[{"name":"name","type":"text","required":true}]}]}`), 0o600); err != nil {
		tb.Fatal(err)
	}
	dataDir := filepath.Join(home, "data")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Main(ctx, Env{
			Args: append([]string{"serve", "--data-dir", dataDir, "--device", "dev1", "--collections", cols,
				"--drill", unreachableDrill}, extra...),
			Stdout: pw, Stderr: stderr,
			Environ: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "cfg"),
				"FIELDSYNC_MANAGED_CONFIG=" + filepath.Join(home, "managed.json")},
			Assets:  fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>fieldsync</title>")}},
			Keyring: configtest.Keyring{},
		})
		pw.Close()
		done <- code
	}()
	stopped := false
	stop := func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-done
	}
	tb.Cleanup(func() { stop() })

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		tb.Fatalf("no first line from serve: %v; stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drain the rest
	u, err := url.Parse(strings.TrimSpace(line))
	if err != nil || u.Query().Get("key") == "" {
		tb.Fatalf("first line %q is not the address with the key", line)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	s := &servedUI{tb: tb, base: &url.URL{Scheme: "http", Host: u.Host}, url: u.String(), client: &http.Client{Jar: jar, Timeout: time.Minute},
		dataDir: dataDir, stderr: stderr, stop: stop}
	resp, err := s.client.Get(u.String()) // the key is exchanged for the session cookies
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "fieldsync") {
		tb.Fatalf("GET %s = %d %s", u, resp.StatusCode, body)
	}
	for _, c := range jar.Cookies(s.base) {
		if strings.HasPrefix(c.Name, "fieldsync-csrf") {
			s.csrf = c.Value
		}
	}
	if s.csrf == "" {
		tb.Fatalf("no CSRF cookie after the page load: %v", jar.Cookies(s.base))
	}
	return s
}

// call posts a bound method's arguments the way the page does (cookie
// session, CSRF header) and returns the status and the decoded body.
func (s *servedUI) call(method string, args ...any) (int, map[string]json.RawMessage) {
	s.tb.Helper()
	if args == nil {
		args = []any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		s.tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.base.String()+"/api/call/"+method, bytes.NewReader(b))
	if err != nil {
		s.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(bridge.HeaderCSRF, s.csrf)
	resp, err := s.client.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		s.tb.Fatalf("%s: decode: %v", method, err)
	}
	return resp.StatusCode, out
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// events opens the event stream with the session cookie and delivers its
// events until the test ends.
func (s *servedUI) events() <-chan sseEvent {
	s.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.tb.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.String()+"/api/events", nil)
	if err != nil {
		s.tb.Fatal(err)
	}
	stream := &http.Client{Jar: s.client.Jar} // no timeout: the stream stays open
	resp, err := stream.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		s.tb.Fatalf("GET /api/events = %d", resp.StatusCode)
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			case line == "":
				if ev.name != "" {
					select {
					case out <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			}
		}
	}()
	return out
}

func TestServeUIOverHTTP(t *testing.T) {
	t.Parallel()
	s := mustServe(t)

	code, out := s.call("UI.Info")
	if code != http.StatusOK {
		t.Fatalf("UI.Info = %d %s", code, out["error"])
	}
	var info service.Info
	if err := json.Unmarshal(out["result"], &info); err != nil {
		t.Fatal(err)
	}
	if info.Device != "dev1" || len(info.Collections) != 1 || info.HLC == "" || !info.Drill.Configured {
		t.Fatalf("info = %+v", info)
	}

	events := s.events()
	// A change made the way the page makes it: with its own clock node.
	ch := store.Change{ChangeID: "c0ffee00c0ffee00c0ffee00c0ffee01", Collection: "sites", RecordID: "r1", Op: store.OpPut,
		Doc: json.RawMessage(`{"name":"from the browser"}`), Parents: []string{}, Device: "dev1", EditedAt: time.Now().UnixMilli(),
		Version: store.Version{WallMS: time.Now().UnixMilli(), Node: "dev1.ui0001"}.String()}
	code, out = s.call("UI.Accept", []store.Change{ch})
	if code != http.StatusOK {
		t.Fatalf("UI.Accept = %d %s", code, out["error"])
	}
	var res store.AppendResult
	if err := json.Unmarshal(out["result"], &res); err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Results[0].MSeq == 0 {
		t.Fatalf("Accept = %+v", res)
	}

	t.Run("the agent's status reaches the event stream", func(t *testing.T) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.name == "sync:status" && strings.Contains(ev.data, `"pending":1`) {
					return
				}
			case <-deadline:
				t.Fatal("no sync:status event with 1 pending after Accept")
			}
		}
	})
	t.Run("bad input is 400 with words", func(t *testing.T) {
		code, out := s.call("UI.Record", "sites", "")
		if code != http.StatusBadRequest || !strings.Contains(string(out["error"]), "record id is empty") {
			t.Errorf("UI.Record(empty) = %d %s, want 400 naming the id", code, out["error"])
		}
	})
	t.Run("App is bound too", func(t *testing.T) {
		code, out := s.call("App.Ping", "hi")
		if code != http.StatusOK || string(out["result"]) != `"hi"` {
			t.Errorf("App.Ping = %d %s", code, out["result"])
		}
	})
	t.Run("wrong host refused", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, s.base.String()+"/api/call/UI.Info", strings.NewReader("[]"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "evil.example:" + s.base.Port()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bridge.HeaderCSRF, s.csrf)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(bridge.HeaderRefused) == "" {
			t.Errorf("wrong Host: %d (refused %q), want 403", resp.StatusCode, resp.Header.Get(bridge.HeaderRefused))
		}
	})
	t.Run("no CSRF header refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.base.String()+"/api/call/UI.Accept", strings.NewReader("[[]]"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("no CSRF: %d, want 403", resp.StatusCode)
		}
	})

	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	// serve released the store: the change is in it.
	st, err := store.Open(context.Background(), filepath.Join(s.dataDir, service.StoreFile), nil)
	if err != nil {
		t.Fatalf("store after serve stopped: %v", err)
	}
	defer st.Close()
	r, err := st.Record(context.Background(), "sites", "r1")
	if err != nil || r.ChangeID != ch.ChangeID || !r.Pending {
		t.Fatalf("record = %+v, %v; want the browser's change, pending", r, err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeRestartKeepsTheAddressAndSession: serve started again on the
// same data dir listens where it did and keeps its key and cookies, so a
// page left open (its IndexedDB belongs to that address) carries on.
func TestServeRestartKeepsTheAddressAndSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		second   []string // arguments of the second run
		block    bool     // the first run's port is taken when the second starts
		damage   bool     // serve.json is damaged before the second run
		sameAddr bool
		sameKey  bool
		warning  string // in the second run's log
	}{
		{name: "restart", sameAddr: true, sameKey: true},
		{name: "new key", second: []string{"--new-key"}, sameAddr: true},
		{name: "port taken", block: true, sameKey: true, warning: "the address of the last run is not available"},
		{name: "damaged state", damage: true, warning: "starting with a new key and address"},
		{name: "explicit address", second: []string{"--addr", "127.0.0.1:0"}, sameKey: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			first := mustServeIn(t, home)
			if code, _ := first.call("App.Ping", "hi"); code != http.StatusOK {
				t.Fatalf("first run: App.Ping = %d", code)
			}
			if code := first.stop(); code != 0 {
				t.Fatalf("first run exited %d", code)
			}
			statePath := filepath.Join(first.dataDir, serveStateFile)
			if fi, err := os.Stat(statePath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, %v; want a 0600 file", statePath, fi, err)
			}
			if tt.block {
				ln, err := net.Listen("tcp", first.base.Host)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
			}
			if tt.damage {
				if err := os.WriteFile(statePath, []byte("{not json"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			second := mustServeIn(t, home, tt.second...)
			if got := second.base.Host == first.base.Host; got != tt.sameAddr {
				t.Errorf("second run at %s, first at %s; same address = %v, want %v", second.base.Host, first.base.Host, got, tt.sameAddr)
			}
			key := func(s *servedUI) string { u, _ := url.Parse(s.url); return u.Query().Get("key") }
			if got := key(second) == key(first); got != tt.sameKey {
				t.Errorf("same key = %v, want %v", got, tt.sameKey)
			}
			if tt.warning != "" && !strings.Contains(second.stderr.String(), tt.warning) {
				t.Errorf("second run's log lacks %q:\n%s", tt.warning, second.stderr.String())
			}
			if tt.sameAddr {
				// The first run's page, with the cookies it got then.
				want := http.StatusForbidden
				if tt.sameKey {
					want = http.StatusOK
				}
				if code, out := first.call("App.Ping", "again"); code != want {
					t.Errorf("the old page's call = %d %s, want %d", code, out["error"], want)
				}
			}
			// The second run remembers where it is now.
			st, err := loadServeState(second.dataDir)
			if err != nil || st.Addr != second.base.Host || st.APIKey != key(second) {
				t.Errorf("serve.json after the second run = %+v, %v; want addr %s and its key", st, err, second.base.Host)
			}
		})
	}
}
