package bridge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogFloodStaysBounded sends 10,000 requests without the key, each with
// a 4 KB path, to a loopback server: the log must stay within the rate
// bound (lines per minute, each with its path cut to MaxLoggedBytes) and
// end with one line counting what was suppressed.
func TestLogFloodStaysBounded(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	s, ts := mustNewServer(t, Options{Logger: log})
	const requests, workers = 10_000, 8
	long := "/api/" + strings.Repeat("A", 4<<10)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < requests; i += workers {
				resp, err := client.Get(ts.URL + long)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if refused != requests {
		t.Fatalf("%d of %d requests refused with 401", refused, requests)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logBuf.String()
	lines := strings.Count(out, "bridge refused an unauthenticated request")
	// The flood lasts seconds, so one or two minute windows.
	if lines == 0 || lines > 2*DefaultRefusedLogPerMinute {
		t.Errorf("%d refusal lines logged; want 1 to %d", lines, 2*DefaultRefusedLogPerMinute)
	}
	if !strings.Contains(out, "suppressed=") {
		t.Error("no line counts the suppressed refusals")
	}
	// Each line: the message, the reason, a path cut to 200 bytes and a
	// little more; 1 KB is generous.
	if bound := (2*DefaultRefusedLogPerMinute + 2) * 1024; len(out) > bound {
		t.Errorf("log grew by %d bytes for %d refused requests; want at most %d", len(out), requests, bound)
	}
	if strings.Contains(out, strings.Repeat("A", MaxLoggedBytes+1)) {
		t.Error("a path was logged longer than MaxLoggedBytes")
	}
	t.Logf("%d refused requests: %d log lines, %d bytes", requests, lines, len(out))
}

func TestRefusalLogWindow(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	now := time.Unix(1_700_000_000, 0)
	l := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)), 3, func() time.Time { return now })
	for range 10 {
		l.warn("refused", "path", clip("/x"))
	}
	if got := strings.Count(buf.String(), "msg=refused"); got != 3 {
		t.Errorf("%d lines in the first minute, want 3", got)
	}
	now = now.Add(time.Minute)
	l.warn("refused")
	if !strings.Contains(buf.String(), "suppressed=7") || strings.Count(buf.String(), "msg=refused") != 4 {
		t.Errorf("after a minute:\n%s", buf.String())
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"/short", "/short"},
		{strings.Repeat("a", MaxLoggedBytes), strings.Repeat("a", MaxLoggedBytes)},
		{strings.Repeat("a", 300), strings.Repeat("a", MaxLoggedBytes) + "…(300 bytes)"},
		// A rune is never cut in two.
		{strings.Repeat("a", MaxLoggedBytes-1) + "é" + "zz", strings.Repeat("a", MaxLoggedBytes-1) + "…(203 bytes)"},
	}
	for _, tt := range tests {
		if got := clip(tt.in); got != tt.want {
			t.Errorf("clip(%d bytes) = %q, want %q", len(tt.in), got, tt.want)
		}
	}
}

// TestLargeBodiesWaitForAPlace holds the only place for a large body with
// a call whose body is still arriving: another large call waits (and gives
// up when its request ends), a small one goes through, and once the first
// ends the next large call is served.
func TestLargeBodiesWaitForAPlace(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{LargeBodies: 1})
	call := func(ctx context.Context, body io.Reader, size int64) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/api/call/Fixture.Bytes", body)
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderAPIKey, testKey)
		req.Header.Set(HeaderCSRF, s.CSRFToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	big := `["` + strings.Repeat("x", 2<<20) + `"]`
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		code, _ := call(context.Background(), pr, -1) // unknown length: large
		first <- code
	}()
	if _, err := pw.Write([]byte(`["`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if code, err := call(ctx, strings.NewReader(big), int64(len(big))); err == nil {
		t.Fatalf("a second large call was served (%d) while the only place was taken", code)
	}
	if code, err := call(context.Background(), strings.NewReader(`["small"]`), 9); err != nil || code != http.StatusOK {
		t.Fatalf("a small call waited: %d %v", code, err)
	}
	if _, err := pw.Write([]byte(`abc"]`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-first; code != http.StatusOK {
		t.Fatalf("first large call: %d", code)
	}
	if code, err := call(context.Background(), strings.NewReader(big), int64(len(big))); err != nil || code != http.StatusOK {
		t.Fatalf("large call after the place came free: %d %v", code, err)
	}
}
