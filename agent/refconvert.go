package agent

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/schema"
)

// Converting a reference source's cells to the declared field types,
// with errors that say which value did not convert and why.

// convertCell converts a cell from Drill (text from CSV, typed values from
// Parquet or JSON) to a value of the field's type; nil means absent.
func convertCell(f schema.Field, v any) (any, error) {
	if s, ok := v.(string); ok && f.Type != schema.TypeText && f.Type != schema.TypeNote {
		v = strings.TrimSpace(s)
	}
	if v == nil || v == "" {
		return nil, nil
	}
	if f.Type == schema.TypeList {
		return convertList(v)
	}
	s, scalar := cellText(v)
	if !scalar {
		return nil, fmt.Errorf("%s does not convert to %s", kindOf(v), f.Type)
	}
	switch f.Type {
	case schema.TypeNumber:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("%q does not convert to a number", s)
		}
		if !json.Valid([]byte(s)) {
			s = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return json.Number(s), nil
	case schema.TypeInteger:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q does not convert to a whole number", s)
		}
		return json.Number(strconv.FormatInt(n, 10)), nil
	case schema.TypeBoolean:
		return convertBool(s)
	case schema.TypeEnum:
		if !slices.Contains(f.Options, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(f.Options, ", "))
		}
		return s, nil
	case schema.TypeDateTime:
		return convertDateTime(s)
	}
	return s, nil
}

// cellText is a scalar cell as text; false for lists and objects.
func cellText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func convertBool(s string) (any, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "y", "1":
		return true, nil
	case "false", "no", "n", "0":
		return false, nil
	}
	return nil, fmt.Errorf("%q does not convert to true or false (want true/false, yes/no or 1/0)", s)
}

func convertDateTime(s string) (any, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return json.Number(strconv.FormatInt(n, 10)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999", "2006-01-02T15:04:05.999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339Nano), nil
		}
	}
	return nil, fmt.Errorf("%q does not convert to a date-time (want RFC 3339, 2006-01-02 15:04:05, 2006-01-02 or epoch milliseconds)", s)
}

// convertList takes a JSON list, a JSON list in text, or items separated
// by ";", each a text.
func convertList(v any) (any, error) {
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case string:
		if strings.HasPrefix(x, "[") {
			if err := json.Unmarshal([]byte(x), &items); err != nil {
				return nil, fmt.Errorf("%q is not a JSON list", x)
			}
			break
		}
		for _, part := range strings.Split(x, ";") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, part)
			}
		}
	default:
		return nil, fmt.Errorf("%s does not convert to a list", kindOf(v))
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case json.Number, float64, bool:
			out = append(out, fmt.Sprint(x))
		default:
			return nil, fmt.Errorf("a list item is %s, not text", kindOf(it))
		}
	}
	return out, nil
}

// kindOf names a decoded JSON value's kind for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
