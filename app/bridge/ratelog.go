package bridge

import (
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of the refused-request log: anyone on the machine can send
// requests without the key, and each refusal must not cost a log line.
const (
	// DefaultRefusedLogPerMinute is how many refused requests are logged
	// per minute when Options.RefusedLogPerMinute is zero; the others are
	// counted and told in one "suppressed" line.
	DefaultRefusedLogPerMinute = 30
	// MaxLoggedBytes is how much of a request's path, host or other text
	// it chose goes into the log.
	MaxLoggedBytes = 200
)

// refusalLog logs refused requests at a bounded rate, with what the client
// chose (path, host, origin) cut to MaxLoggedBytes.
type refusalLog struct {
	log       *slog.Logger
	perMinute int
	now       func() time.Time

	mu         sync.Mutex
	window     time.Time // start of the current minute
	logged     int       // lines logged in it
	suppressed int       // refusals not logged since the last summary
}

func newRefusalLog(log *slog.Logger, perMinute int, now func() time.Time) *refusalLog {
	if perMinute <= 0 {
		perMinute = DefaultRefusedLogPerMinute
	}
	if now == nil {
		now = time.Now
	}
	return &refusalLog{log: log, perMinute: perMinute, now: now}
}

// warn logs msg with attrs unless this minute's lines are used up; the
// first line of a new minute is preceded by how many were suppressed.
func (l *refusalLog) warn(msg string, attrs ...any) {
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.window) >= time.Minute {
		if l.suppressed > 0 {
			l.log.Warn("bridge suppressed refused-request log lines", "suppressed", l.suppressed, "per_minute", l.perMinute)
		}
		l.window, l.logged, l.suppressed = now, 0, 0
	}
	if l.logged >= l.perMinute {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.logged++
	l.mu.Unlock()
	l.log.Warn(msg, attrs...)
}

// flush logs the suppressed count, when there is one (at Stop).
func (l *refusalLog) flush() {
	l.mu.Lock()
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		l.log.Warn("bridge suppressed refused-request log lines", "suppressed", n, "per_minute", l.perMinute)
	}
}

// clip cuts a client-chosen text to MaxLoggedBytes (on a rune boundary),
// saying how long it was.
func clip(s string) string {
	if len(s) <= MaxLoggedBytes {
		return s
	}
	cut := MaxLoggedBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
