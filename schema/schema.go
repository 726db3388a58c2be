package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Type is the type of a declared field.
type Type string

// The field types a declaration may use.
const (
	TypeText     Type = "text"     // a single-line string
	TypeNumber   Type = "number"   // a JSON number, stored as DOUBLE
	TypeInteger  Type = "integer"  // a whole JSON number, stored as BIGINT
	TypeBoolean  Type = "boolean"  // true or false
	TypeEnum     Type = "enum"     // one of the field's Options
	TypeDateTime Type = "datetime" // RFC 3339 text or epoch ms, stored as BIGINT epoch ms
	TypeNote     Type = "note"     // free multi-line text
	TypeList     Type = "list"     // a JSON array of texts (tags, crew names), stored as JSON text
)

// Policy says how the agent settles a conflict in a collection.
type Policy string

// The conflict policies.
const (
	// PolicyManual leaves every conflict to a person (the default).
	PolicyManual Policy = "manual"
	// PolicyLWW keeps the leaf with the highest version.
	PolicyLWW Policy = "lww"
	// PolicyFieldMerge merges concurrent edits that touch disjoint fields
	// relative to their common ancestor, and leaves the rest to a person.
	PolicyFieldMerge Policy = "field-merge"
	// PolicyPreferServer keeps the server's side: the newest edit made in
	// Drill (an inbox row applied by fieldsync ingest); when no side is
	// the server's, the newest edit that came from another device.
	PolicyPreferServer Policy = "prefer-server"
	// PolicyPreferDevice keeps the newest edit made on the resolving device.
	PolicyPreferDevice Policy = "prefer-device"
)

// Field is one declared field of a collection.
type Field struct {
	Name     string   `json:"name"`
	Label    string   `json:"label,omitempty"`
	Type     Type     `json:"type"`
	Required bool     `json:"required,omitempty"`
	Options  []string `json:"options,omitempty"`
	// OptionsFrom makes a text field take its value from a field of a
	// reference collection (a site from the site list).
	OptionsFrom *OptionsFrom `json:"options_from,omitempty"`
}

// Collection is one declared collection.
type Collection struct {
	Name   string `json:"name"`
	Label  string `json:"label,omitempty"`
	Policy Policy `json:"policy,omitempty"`
	// Title names the field whose value names a record for people (a
	// site, a meter number) in lists of conflicts and refused changes. It
	// must be a text or enum field. Empty: the app picks the first
	// required text field.
	Title  string  `json:"title,omitempty"`
	Fields []Field `json:"fields"`
	// Rules say, per field, how concurrent edits of it combine when a
	// conflict is settled automatically (field name -> rule); a field
	// without a rule falls back to Policy.
	Rules map[string]Merge `json:"rules,omitempty"`
	// Reference, when set, makes this a read-only reference collection
	// whose rows come from a Drill query or table.
	Reference *Reference `json:"reference,omitempty"`
}

// Set is a parsed, validated declarations file. Its zero value has no
// collections.
type Set struct {
	Collections []Collection `json:"collections"`
}

// ErrUnknownCollection is returned for a collection that is not declared.
var ErrUnknownCollection = errors.New("unknown collection")

// Collection returns the declaration named name, or an error wrapping
// ErrUnknownCollection.
func (s *Set) Collection(name string) (*Collection, error) {
	for i := range s.Collections {
		if s.Collections[i].Name == name {
			return &s.Collections[i], nil
		}
	}
	return nil, fmt.Errorf("schema: %w %q (declared: %s)", ErrUnknownCollection, name, strings.Join(s.Names(), ", "))
}

// Names returns the declared collection names in declaration order.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.Collections))
	for _, c := range s.Collections {
		out = append(out, c.Name)
	}
	return out
}

// Field returns the declared field named name.
func (c *Collection) Field(name string) (Field, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// EffectivePolicy returns the collection's policy, PolicyManual when unset.
func (c *Collection) EffectivePolicy() Policy {
	if c.Policy == "" {
		return PolicyManual
	}
	return c.Policy
}

var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reserved are column names the change metadata uses; fields may not take them.
var reserved = map[string]bool{
	"change_id": true, "collection": true, "record_id": true, "op": true,
	"version": true, "parents": true, "device": true, "author": true,
	"edited_at": true, "doc": true, "batch": true, "batch_rows": true, "rn": true,
	ResolutionColumn: true,
}

// Load reads and parses the declarations file at path.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse parses and checks a declarations document. Errors name the line and
// column of a syntax or type error, or the collection and field at fault.
func Parse(b []byte) (*Set, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Set
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("schema: %s", describeJSONError(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("schema: line %d: unexpected data after the declarations object", lineOf(b, int(dec.InputOffset())))
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

func describeJSONError(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("line %d: %v", lineOf(b, int(se.Offset)), se)
	case errors.As(err, &te):
		return fmt.Sprintf("line %d: field %q must be %v, not a JSON %s", lineOf(b, int(te.Offset)), te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated declarations file"
	default:
		return err.Error()
	}
}

func lineOf(b []byte, off int) int {
	if off > len(b) {
		off = len(b)
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(b[:off], []byte("\n")) + 1
}

func (s *Set) check() error {
	if len(s.Collections) == 0 {
		return errors.New("schema: no collections declared")
	}
	seen := map[string]bool{}
	for i := range s.Collections {
		c := &s.Collections[i]
		where := fmt.Sprintf("schema: collection #%d %q", i+1, c.Name)
		if !identRE.MatchString(c.Name) {
			return fmt.Errorf("%s: name must be lowercase letters, digits and _ starting with a letter (at most 63)", where)
		}
		if strings.HasPrefix(c.Name, "fieldsync_") {
			return fmt.Errorf("%s: names starting with fieldsync_ are reserved for fieldsync's own tables", where)
		}
		if seen[c.Name] {
			return fmt.Errorf("%s: declared twice", where)
		}
		seen[c.Name] = true
		switch c.Policy {
		case "", PolicyManual, PolicyLWW, PolicyFieldMerge, PolicyPreferServer, PolicyPreferDevice:
		default:
			return fmt.Errorf("%s: unknown policy %q (want manual, lww, field-merge, prefer-server or prefer-device)", where, c.Policy)
		}
		fields := map[string]bool{}
		for j, f := range c.Fields {
			fw := fmt.Sprintf("%s: field #%d %q", where, j+1, f.Name)
			if !identRE.MatchString(f.Name) {
				return fmt.Errorf("%s: name must be lowercase letters, digits and _ starting with a letter (at most 63)", fw)
			}
			if reserved[f.Name] {
				return fmt.Errorf("%s: name is reserved for change metadata", fw)
			}
			if fields[f.Name] {
				return fmt.Errorf("%s: declared twice", fw)
			}
			fields[f.Name] = true
			switch f.Type {
			case TypeText, TypeNumber, TypeInteger, TypeBoolean, TypeDateTime, TypeNote, TypeList:
				if len(f.Options) > 0 {
					return fmt.Errorf("%s: options are only allowed on enum fields", fw)
				}
			case TypeEnum:
				if len(f.Options) == 0 {
					return fmt.Errorf("%s: an enum needs at least one option", fw)
				}
				opts := map[string]bool{}
				for _, o := range f.Options {
					if o == "" || opts[o] {
						return fmt.Errorf("%s: option %q is empty or repeated", fw, o)
					}
					opts[o] = true
				}
			default:
				return fmt.Errorf("%s: unknown type %q (want text, number, integer, boolean, enum, datetime, note or list)", fw, f.Type)
			}
			if f.OptionsFrom != nil {
				if msg := s.checkOptionsFrom(f); msg != "" {
					return fmt.Errorf("%s: %s", fw, msg)
				}
			}
		}
		if c.Title != "" {
			f, ok := c.Field(c.Title)
			if !ok {
				return fmt.Errorf("%s: title %q is not one of its fields", where, c.Title)
			}
			if f.Type != TypeText && f.Type != TypeEnum {
				return fmt.Errorf("%s: title %q is a %s field; it must be a text or enum field", where, c.Title, f.Type)
			}
		}
		if msg := c.checkRules(); msg != "" {
			return fmt.Errorf("%s: %s", where, msg)
		}
		if c.Reference != nil {
			if msg := c.checkReference(); msg != "" {
				return fmt.Errorf("%s: %s", where, msg)
			}
		}
	}
	return nil
}
