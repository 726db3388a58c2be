package app

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/service"
	"github.com/fieldsync/fieldsync/store"
)

// The checks every UI call makes of what the page sent, before the
// service sees it.

// invalid returns an error wrapping ErrInvalidInput.
func invalid(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// inputError is input a binding refused; its text is for people.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return ErrInvalidInput }

func pageLimit(op string, limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageLimit, nil
	case limit < 0 || limit > MaxPageLimit:
		return 0, invalid("%s: limit %d is out of range; want 1 to %d (0 means %d)", op, limit, MaxPageLimit, DefaultPageLimit)
	}
	return limit, nil
}

func checkName(op, what, v string) error {
	switch {
	case v == "":
		return invalid("%s: the %s is empty", op, what)
	case len(v) > MaxNameLen:
		return invalid("%s: the %s is %d bytes, the limit is %d", op, what, len(v), MaxNameLen)
	case !utf8.ValidString(v):
		return invalid("%s: the %s is not valid UTF-8", op, what)
	case strings.ContainsRune(v, 0):
		return invalid("%s: the %s holds a NUL character", op, what)
	}
	return nil
}

func checkRef(op, collection, id string) error {
	if err := checkName(op, "collection", collection); err != nil {
		return err
	}
	return checkName(op, "record id", id)
}

func checkChoice(c agent.Choice) error {
	switch c.Take {
	case agent.TakeDevice, agent.TakeServer:
	case agent.TakeVersion:
		if err := checkName("resolve", "version", c.Version); err != nil {
			return err
		}
	case agent.TakeMerge:
		if len(c.Doc) > store.MaxDocBytes {
			return invalid("resolve: the merged record is %d bytes, the limit is %d", len(c.Doc), store.MaxDocBytes)
		}
	default:
		return invalid("resolve: take %q is not one of device, server, merge or version", c.Take)
	}
	if len(c.Author) > MaxNameLen {
		return invalid("resolve: the author is %d bytes, the limit is %d", len(c.Author), MaxNameLen)
	}
	return nil
}

func checkSettings(op string, s service.Settings) error {
	if len(s.DrillURLs) > MaxDrillURLs {
		return invalid("%s: %d Drillbit URLs, the limit is %d", op, len(s.DrillURLs), MaxDrillURLs)
	}
	fields := []struct{ name, v string }{
		{"workspace", s.Workspace}, {"auth", s.Auth}, {"user", s.User},
		{"ca_file", s.CAFile}, {"schedule", s.Schedule}, {"collections", s.Collections},
	}
	for _, u := range s.DrillURLs {
		fields = append(fields, struct{ name, v string }{"drill URL", u})
	}
	for _, f := range fields {
		if len(f.v) > MaxSettingLen {
			return invalid("%s: %s is %d bytes, the limit is %d", op, f.name, len(f.v), MaxSettingLen)
		}
		if !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\x00\r\n") {
			return invalid("%s: %s holds characters a setting cannot have", op, f.name)
		}
	}
	return nil
}
