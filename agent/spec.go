package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// CheckSpec reports whether spec is a schedule the agent can run: five cron
// fields ("*/10 * * * *") or a descriptor ("@every 5m", "@hourly").
func CheckSpec(spec string) error {
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("schedule %q: %w (examples: \"@every 5m\", \"*/15 * * * *\", \"0 18 * * 1-5\")", spec, err)
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		if v, err := time.ParseDuration(d); err == nil && v < time.Minute {
			return fmt.Errorf("schedule %q: syncing more often than once a minute only loads Drill; use at least @every 1m", spec)
		}
	}
	return nil
}

// DescribeSpec reads a schedule in words for people: "every 5 minutes",
// "every day at 18:00". Specs it has no words for are described by their
// next run times.
func DescribeSpec(spec string) string {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return "not a valid schedule"
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		if v, err := time.ParseDuration(d); err == nil {
			return "every " + durationWords(v)
		}
	}
	switch spec {
	case "@hourly":
		return "every hour, on the hour"
	case "@daily", "@midnight":
		return "every day at midnight"
	case "@weekly":
		return "every Sunday at midnight"
	case "@monthly":
		return "on the first day of every month at midnight"
	case "@yearly", "@annually":
		return "every 1 January at midnight"
	}
	f := strings.Fields(spec)
	if len(f) == 5 && f[2] == "*" && f[3] == "*" && f[4] == "*" {
		min, hour := f[0], f[1]
		if n, ok := strings.CutPrefix(min, "*/"); ok && hour == "*" {
			if v, err := strconv.Atoi(n); err == nil {
				return "every " + plural(v, "minute")
			}
		}
		if m, err := strconv.Atoi(min); err == nil {
			if hour == "*" {
				return fmt.Sprintf("every hour at minute %d", m)
			}
			if h, err := strconv.Atoi(hour); err == nil {
				return fmt.Sprintf("every day at %02d:%02d", h, m)
			}
			if n, ok := strings.CutPrefix(hour, "*/"); ok {
				if v, err := strconv.Atoi(n); err == nil {
					return fmt.Sprintf("every %s at minute %d", plural(v, "hour"), m)
				}
			}
		}
	}
	now := time.Now()
	var next []string
	for range 3 {
		now = sched.Next(now)
		next = append(next, now.Format("Mon 15:04"))
	}
	return "on the schedule " + spec + " (next: " + strings.Join(next, ", ") + ")"
}

func durationWords(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
