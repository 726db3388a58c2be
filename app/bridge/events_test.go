package bridge

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEventsArriveInOrder(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{})
	st := mustOpenStream(t, ts, "")
	s.Emit("sync:progress", map[string]int{"done": 1})
	s.Emit("sync:progress", map[string]int{"done": 2})
	s.EventsEmit("sync:applied", "inspections", 7)
	s.EventsEmit("sync:idle")
	tests := []struct{ name, data string }{
		{"sync:progress", `[{"done":1}]`},
		{"sync:progress", `[{"done":2}]`},
		{"sync:applied", `["inspections",7]`},
		{"sync:idle", `[]`},
	}
	var prev uint64
	for i, want := range tests {
		ev := st.next(t, false)
		if ev.name != want.name || ev.data != want.data {
			t.Fatalf("event %d = %+v, want %s %s", i, ev, want.name, want.data)
		}
		seq, ok := s.events.parseID(ev.id)
		if !ok || seq != prev+1 {
			t.Fatalf("event %d has id %q, want sequence %d", i, ev.id, prev+1)
		}
		prev = seq
	}
}

func TestEventsCatchUp(t *testing.T) {
	t.Parallel()
	const kept = 5
	tests := []struct {
		name      string
		lastID    func(s *Server) string
		wantReset bool
		wantFirst int // first event caught up
	}{
		{name: "nothing missed", lastID: seqID(8), wantFirst: 9},
		{name: "missed some", lastID: seqID(5), wantFirst: 6},
		{name: "missed all kept", lastID: seqID(3), wantFirst: 4},
		{name: "fell off the ring", lastID: seqID(2), wantReset: true},
		{name: "before the first", lastID: seqID(0), wantReset: true},
		{name: "from the future", lastID: seqID(9), wantReset: true},
		{name: "another run", lastID: func(*Server) string { return "00000000-5" }, wantReset: true},
		{name: "garbage", lastID: func(*Server) string { return "not an id" }, wantReset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ts := mustNewServer(t, Options{EventBuffer: kept})
			for i := 1; i <= 8; i++ {
				s.Emit("n", i)
			}
			st := mustOpenStream(t, ts, tt.lastID(s))
			if tt.wantReset {
				ev := st.next(t, false)
				if ev.name != EventReset || !strings.Contains(ev.data, "reason") {
					t.Fatalf("first event %+v, want a reset with a reason", ev)
				}
				if want := s.events.id(8); ev.id != want {
					t.Errorf("reset id %q, want the newest event's id %q", ev.id, want)
				}
			} else {
				for seq := tt.wantFirst; seq <= 8; seq++ {
					ev := st.next(t, false)
					if ev.id != s.events.id(uint64(seq)) || ev.data != "["+strconv.Itoa(seq)+"]" {
						t.Fatalf("caught-up event %+v, want sequence %d", ev, seq)
					}
				}
			}
			s.Emit("n", "live")
			if ev := st.next(t, false); ev.data != `["live"]` || ev.id != s.events.id(9) {
				t.Fatalf("after catching up got %+v, want the live event 9", ev)
			}
		})
	}
}

// seqID returns the id of event seq of the server.
func seqID(seq uint64) func(*Server) string {
	return func(s *Server) string { return s.events.id(seq) }
}

func TestEventsCatchUpByQuery(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{})
	s.Emit("a", 1)
	s.Emit("b", 2)
	st := openStream(t, ts, "/api/events?lastEventId="+s.events.id(1), "")
	if ev := st.next(t, false); ev.name != "b" {
		t.Errorf("first event %+v, want b (a was seen)", ev)
	}
}

func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	_, ts := mustNewServer(t, Options{Heartbeat: time.Millisecond})
	st := mustOpenStream(t, ts, "")
	if ev := st.next(t, true); ev.name != ":ping" {
		t.Errorf("got %+v, want a heartbeat comment", ev)
	}
}

func TestEmitRefusesUnusableEvents(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		event   string
		payload any
	}{
		{name: "empty name", event: "", payload: 1},
		{name: "reserved name", event: EventReset, payload: 1},
		{name: "line break", event: "a\ndata: x", payload: 1},
		{name: "carriage return", event: "a\rb", payload: 1},
		{name: "not json", event: "ok", payload: make(chan int)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Emit(tt.event, tt.payload)
		})
	}
	if s.events.next != 1 {
		t.Errorf("refused events took sequence numbers: next is %d, want 1", s.events.next)
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	h := newHub(10, 3, slog.New(slog.DiscardHandler))
	slow, _, err := h.subscribe("", "slow")
	if err != nil {
		t.Fatal(err)
	}
	fast, _, err := h.subscribe("", "fast")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		h.emit("n", []any{i})
		<-fast.ch // the fast one keeps up
	}
	got := 0
	for range slow.ch { // closed after the buffered events
		got++
	}
	if got != 3 {
		t.Errorf("the slow subscriber got %d buffered events before being dropped, want 3", got)
	}
	if n := h.clientCount(); n != 1 {
		t.Errorf("%d subscribers left, want only the fast one", n)
	}
	h.unsubscribe(slow) // what its handler does afterwards: no panic, no effect
	if n := h.clientCount(); n != 1 {
		t.Errorf("%d subscribers left after unsubscribing the dropped one, want 1", n)
	}
}

func TestHubLimitsSubscribers(t *testing.T) {
	t.Parallel()
	h := newHub(10, 1, slog.New(slog.DiscardHandler))
	for i := range MaxEventClients {
		if _, _, err := h.subscribe("", strconv.Itoa(i)); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	if _, _, err := h.subscribe("", "one too many"); err != errTooManyClients {
		t.Errorf("subscribe beyond the limit: %v, want errTooManyClients", err)
	}
}

// TestSlowClientDoesNotBlockEmit connects a client that never reads: its
// socket fills up, then its buffer, and it is dropped while Emit goes on.
func TestSlowClientDoesNotBlockEmit(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{ClientBuffer: 2, EventBuffer: 4})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n\r\n", ts.Listener.Addr(), HeaderAPIKey, testKey)
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read the stream's start: %v", err)
		}
		if strings.Contains(line, ": connected") {
			break // subscribed; from now on the client reads nothing
		}
	}
	payload := strings.Repeat("x", 256<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 { // 50 MiB: far more than the socket buffers hold
			s.Emit("big", payload)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // a hang guard, not a speed check
		t.Fatal("Emit blocked on a client that does not read")
	}
	if n := s.events.clientCount(); n != 0 {
		t.Errorf("%d clients still subscribed, want the slow one dropped", n)
	}
}

func TestConcurrentEmitKeepsOneOrder(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{})
	st := mustOpenStream(t, ts, "")
	const workers, each = 4, 50
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				s.Emit("w"+strconv.Itoa(w), i)
			}
		}()
	}
	for range workers {
		<-done
	}
	last := map[string]int{}
	for n := 1; n <= workers*each; n++ {
		ev := st.next(t, false)
		if ev.id != s.events.id(uint64(n)) {
			t.Fatalf("event %d has id %q, want %q", n, ev.id, s.events.id(uint64(n)))
		}
		i, err := strconv.Atoi(strings.Trim(ev.data, "[]"))
		if err != nil {
			t.Fatalf("event %+v: %v", ev, err)
		}
		if prev, ok := last[ev.name]; ok && i != prev+1 {
			t.Fatalf("%s sent %d after %d: one goroutine's events were reordered", ev.name, i, prev)
		}
		last[ev.name] = i
	}
}

// clientCount reports how many subscribers are connected.
func (h *hub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}
