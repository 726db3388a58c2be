package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// writeTimeout bounds one write to an event stream, so that a client that
// stopped reading does not hold its handler forever.
const writeTimeout = 30 * time.Second

// subscriber is one connected event stream. Only the hub sends on ch, under
// its lock; it closes ch when it drops the subscriber.
type subscriber struct {
	ch     chan []byte
	remote string
}

// hub numbers events, keeps the most recent ones in a ring and fans them out
// to the subscribers.
type hub struct {
	log       *slog.Logger
	boot      string // changes with every hub, so ids of another run are recognised
	clientBuf int

	mu      sync.Mutex
	next    uint64   // sequence number of the next event; the first is 1
	ring    [][]byte // event seq lives at ring[(seq-1) % len(ring)]
	count   int      // events in the ring
	clients map[*subscriber]struct{}
}

func newHub(size, clientBuf int, log *slog.Logger) *hub {
	if size <= 0 {
		size = DefaultEventBuffer
	}
	if clientBuf <= 0 {
		clientBuf = DefaultClientBuffer
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &hub{
		log:       log,
		boot:      hex.EncodeToString(b),
		clientBuf: clientBuf,
		next:      1,
		ring:      make([][]byte, size),
		clients:   make(map[*subscriber]struct{}),
	}
}

// emit numbers the event, keeps it and hands it to every subscriber without
// waiting: a subscriber whose buffer is full is dropped.
func (h *hub) emit(name string, args []any) {
	if name == "" || name == EventReset || strings.ContainsAny(name, "\r\n") {
		h.log.Error("bridge dropped an event with an unusable name", "event", name)
		return
	}
	data, err := json.Marshal(args)
	if err != nil {
		h.log.Error("bridge dropped an event that does not encode as JSON", "event", name, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seq := h.next
	h.next++
	frame := fmt.Appendf(nil, "id: %s\nevent: %s\ndata: %s\n\n", h.id(seq), name, data)
	h.ring[(seq-1)%uint64(len(h.ring))] = frame
	if h.count < len(h.ring) {
		h.count++
	}
	for c := range h.clients {
		select {
		case c.ch <- frame:
		default:
			delete(h.clients, c)
			close(c.ch)
			h.log.Warn("bridge dropped a slow event client", "remote", c.remote, "buffered", cap(c.ch))
		}
	}
}

// id formats an event id.
func (h *hub) id(seq uint64) string {
	return h.boot + "-" + strconv.FormatUint(seq, 10)
}

// errTooManyClients is returned by subscribe when MaxEventClients streams are
// open.
var errTooManyClients = errors.New("too many event streams are open")

// subscribe registers a subscriber. When lastID is set (the client
// reconnects), it also returns the events after lastID, or a reset frame
// when they are not all kept. Both are taken under the same lock as the
// registration, so nothing is missed or repeated.
func (h *hub) subscribe(lastID, remote string) (*subscriber, [][]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= MaxEventClients {
		return nil, nil, errTooManyClients
	}
	var backlog [][]byte
	if lastID != "" {
		newest := h.next - 1
		oldest := h.next - uint64(h.count) // first seq kept
		seq, ok := h.parseID(lastID)
		switch {
		case !ok || seq > newest:
			backlog = [][]byte{h.resetFrame("the event id is not from this run of fieldsync serve")}
		case seq+1 < oldest:
			backlog = [][]byte{h.resetFrame(fmt.Sprintf("%d events were missed; only the last %d are kept", newest-seq, len(h.ring)))}
		default:
			for s := seq + 1; s <= newest; s++ {
				backlog = append(backlog, h.ring[(s-1)%uint64(len(h.ring))])
			}
		}
	}
	c := &subscriber{ch: make(chan []byte, h.clientBuf), remote: remote}
	h.clients[c] = struct{}{}
	return c, backlog, nil
}

// unsubscribe forgets a subscriber that was not dropped.
func (h *hub) unsubscribe(c *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

// parseID reads an id made by this hub.
func (h *hub) parseID(id string) (uint64, bool) {
	boot, seq, ok := strings.Cut(id, "-")
	if !ok || boot != h.boot {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, err == nil
}

// resetFrame tells a client to resync; its id is the newest event's, so the
// client's next reconnect continues from here. Called with h.mu held.
func (h *hub) resetFrame(reason string) []byte {
	data, _ := json.Marshal([]any{map[string]string{"reason": reason}})
	return fmt.Appendf(nil, "id: %s\nevent: %s\ndata: %s\n\n", h.id(h.next-1), EventReset, data)
}

// handleEvents serves GET /api/events as server-sent events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId")
	}
	sub, backlog, err := s.events.subscribe(lastID, r.RemoteAddr)
	if err != nil {
		writeError(w, errorf(http.StatusServiceUnavailable, "%v (at most %d); close other fieldsync tabs", err, MaxEventClients))
		return
	}
	defer s.events.unsubscribe(sub)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	start := []byte("retry: 2000\n: connected\n\n")
	for _, f := range backlog {
		start = append(start, f...)
	}
	if !write(start) {
		return
	}
	s.log.Debug("bridge event client connected", "remote", r.RemoteAddr, "backlog", len(backlog))
	ticker := time.NewTicker(s.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case frame, ok := <-sub.ch:
			if !ok {
				return // dropped as too slow; the browser reconnects with Last-Event-ID
			}
			if !write(frame) {
				return
			}
		case <-ticker.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		}
	}
}
