package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidRecord is wrapped by every ValidationError.
var ErrInvalidRecord = errors.New("invalid record")

// FieldError is one problem with one field of a record.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem Validate found in one record.
type ValidationError struct {
	Collection string       `json:"collection"`
	Problems   []FieldError `json:"problems"`
}

// Error lists the problems in plain words.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		if p.Field == "" {
			parts = append(parts, p.Message)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", p.Field, p.Message))
	}
	return fmt.Sprintf("%s %s: %s", e.Collection, ErrInvalidRecord, strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidRecord) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidRecord }

// DecodeDoc decodes a record document into a map, keeping numbers as
// json.Number so no precision is lost.
func DecodeDoc(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("doc is not a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("doc is not a JSON object: null")
	}
	if dec.More() {
		return nil, errors.New("doc has data after the JSON object")
	}
	return m, nil
}

// Validate checks a record document against the declaration: required fields
// present, values of the declared type, enum values among the options.
// Fields that are not declared are allowed and kept. It returns a
// *ValidationError naming every bad field.
func (c *Collection) Validate(doc []byte) error { return c.validate(doc, true) }

// CheckTypes checks a document that another device wrote: every declared
// field present has a value of the declared type. Unlike Validate it lets
// a required field be missing and an enum hold any text: a device with an
// older or newer declaration may have written it, and the record must
// still arrive. It returns a *ValidationError naming every bad field.
func (c *Collection) CheckTypes(doc []byte) error { return c.validate(doc, false) }

// validate is Validate (strict) or CheckTypes.
func (c *Collection) validate(doc []byte, strict bool) error {
	m, err := DecodeDoc(doc)
	if err != nil {
		return &ValidationError{Collection: c.Name, Problems: []FieldError{{Message: err.Error()}}}
	}
	var probs []FieldError
	for _, f := range c.Fields {
		v, ok := m[f.Name]
		if !ok || v == nil || v == "" {
			if f.Required && strict {
				probs = append(probs, FieldError{f.Name, "is required"})
			}
			if !ok || v == nil {
				continue
			}
		}
		msg := f.check(v)
		if f.Type == TypeEnum && !strict {
			msg = ""
			if _, ok := v.(string); !ok {
				msg = "must be text, not " + kind(v)
			}
		}
		if msg != "" {
			probs = append(probs, FieldError{f.Name, msg})
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Collection: c.Name, Problems: probs}
	}
	return nil
}

// check returns "" when v fits f, else what is wrong in plain words.
func (f Field) check(v any) string {
	switch f.Type {
	case TypeText, TypeNote:
		if _, ok := v.(string); !ok {
			return "must be text, not " + kind(v)
		}
	case TypeNumber:
		n, ok := v.(json.Number)
		if !ok {
			return "must be a number, not " + kind(v)
		}
		if x, err := n.Float64(); err != nil || math.IsInf(x, 0) {
			return "is out of range"
		}
	case TypeInteger:
		n, ok := v.(json.Number)
		if !ok {
			return "must be a whole number, not " + kind(v)
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return "must be a whole number between -2^63 and 2^63-1"
		}
	case TypeBoolean:
		if _, ok := v.(bool); !ok {
			return "must be true or false, not " + kind(v)
		}
	case TypeEnum:
		s, ok := v.(string)
		if !ok {
			return "must be one of " + strings.Join(f.Options, ", ") + ", not " + kind(v)
		}
		for _, o := range f.Options {
			if o == s {
				return ""
			}
		}
		return fmt.Sprintf("must be one of %s, not %q", strings.Join(f.Options, ", "), s)
	case TypeList:
		items, ok := v.([]any)
		if !ok {
			return "must be a list of texts, not " + kind(v)
		}
		for _, it := range items {
			if _, ok := it.(string); !ok {
				return "must be a list of texts, not a list holding " + kind(it)
			}
		}
	case TypeDateTime:
		if _, ok := DateTimeMillis(v); !ok {
			return "must be a date-time (RFC 3339 text such as 2026-11-23T08:30:00Z, or epoch milliseconds)"
		}
	}
	return ""
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case json.Number:
		return "a number"
	case bool:
		return "true/false"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// DateTimeMillis converts a datetime value (RFC 3339 text or a whole number
// of epoch milliseconds) to epoch milliseconds.
func DateTimeMillis(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		return n, err == nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return 0, false
		}
		return t.UnixMilli(), true
	}
	return 0, false
}
