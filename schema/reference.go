package schema

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/robfig/cron/v3"
)

// DefaultReferenceSchedule is how often a reference collection is pulled
// when its declaration names no schedule.
const DefaultReferenceSchedule = "@hourly"

// Reference declares a reference collection: read-only rows that come from
// any Drill query or table (a CSV, Parquet or JSON file in any workspace, a
// view), keyed by one column, mapped to the collection's fields. Devices
// pull it on its own schedule and never push it.
type Reference struct {
	// Query is a Drill SELECT whose rows are the collection's. It may name
	// the device's settings as ${device}, ${author} or ${<scope key>}; each
	// becomes a SQL string literal written by agent/drill's encoder.
	Query string `json:"query,omitempty"`
	// Table is a Drill table read whole: dfs.ref.`sites.csvh`. Give Query
	// or Table, not both.
	Table string `json:"table,omitempty"`
	// Key is the source column whose value is the record id (unique).
	Key string `json:"key"`
	// Map renames source columns to fields (column -> field); a field no
	// column maps to reads the column of its own name.
	Map map[string]string `json:"map,omitempty"`
	// Schedule is a cron spec ("@hourly", "0 6 * * *"); empty means
	// DefaultReferenceSchedule.
	Schedule string `json:"schedule,omitempty"`
}

// OptionsFrom says that a field's value must be a value of a field of a
// reference collection (a site from the site list).
type OptionsFrom struct {
	Collection string `json:"collection"`
	Field      string `json:"field"`
}

// paramRE finds the ${name} parameters of a reference query.
var paramRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// IsReference reports whether the collection is a reference collection.
func (c *Collection) IsReference() bool { return c.Reference != nil }

// EffectiveSchedule returns the reference schedule, the default when unset.
func (r *Reference) EffectiveSchedule() string {
	if r.Schedule == "" {
		return DefaultReferenceSchedule
	}
	return r.Schedule
}

// SourceSQL returns the query the rows come from (Query, or SELECT * FROM
// Table), with its ${...} parameters still in it.
func (r *Reference) SourceSQL() string {
	if r.Query != "" {
		return r.Query
	}
	return "SELECT * FROM " + r.Table
}

// Params returns the names of the ${...} parameters the source uses,
// sorted, each once.
func (r *Reference) Params() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range paramRE.FindAllStringSubmatch(r.SourceSQL(), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// Bind returns the source query with every ${name} replaced by lit(value of
// name in params). lit must be a SQL literal encoder (drill.String); a
// parameter params lacks is an error that names it.
func (r *Reference) Bind(params map[string]string, lit func(string) (string, error)) (string, error) {
	var firstErr error
	out := paramRE.ReplaceAllStringFunc(r.SourceSQL(), func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := params[name]
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("the query uses ${%s}, which this device's settings do not set (set scope.%s)", name, name)
			}
			return m
		}
		s, err := lit(v)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("${%s}: %w", name, err)
		}
		return s
	})
	if firstErr != nil {
		return "", firstErr
	}
	return out, nil
}

// ColumnOf returns the source column a field reads.
func (r *Reference) ColumnOf(field string) string {
	for col, f := range r.Map {
		if f == field {
			return col
		}
	}
	return field
}

// checkReference returns why the reference declaration of c is wrong, or "".
func (c *Collection) checkReference() string {
	r := c.Reference
	switch {
	case (r.Query == "") == (r.Table == ""):
		return "a reference needs a query or a table (one of them)"
	case strings.TrimSpace(r.Key) == "":
		return "a reference needs a key: the source column whose value is the record id"
	case c.Policy != "":
		return "a reference collection is read-only on devices, so it has no conflict policy"
	}
	if r.Query != "" && !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(r.Query)), "SELECT") && !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(r.Query)), "WITH") {
		return "the reference query must be a SELECT (or WITH … SELECT)"
	}
	if strings.Contains(r.SourceSQL(), ";") {
		return "the reference query must be one statement, without ;"
	}
	for _, p := range r.Params() {
		if !identRE.MatchString(p) {
			return fmt.Sprintf("parameter ${%s}: names are lowercase letters, digits and _ (${device}, ${author} or a scope key such as ${region})", p)
		}
	}
	for col, f := range r.Map {
		if col == "" {
			return "map has an empty column name"
		}
		if _, ok := c.Field(f); !ok {
			return fmt.Sprintf("map sends column %q to %q, which is not one of its fields", col, f)
		}
	}
	seen := map[string]string{}
	for col, f := range r.Map {
		if other, dup := seen[f]; dup {
			cols := []string{other, col}
			sort.Strings(cols)
			return fmt.Sprintf("map sends both %q and %q to field %q", cols[0], cols[1], f)
		}
		seen[f] = col
	}
	if _, err := cron.ParseStandard(r.EffectiveSchedule()); err != nil {
		return fmt.Sprintf("schedule %q: %v (examples: \"@hourly\", \"0 6 * * *\")", r.Schedule, err)
	}
	if len(c.Rules) > 0 {
		return "a reference collection is read-only on devices, so it has no merge rules"
	}
	for _, f := range c.Fields {
		if f.OptionsFrom != nil {
			return fmt.Sprintf("field %q: a reference collection cannot take options from another", f.Name)
		}
	}
	return ""
}

// checkOptionsFrom returns why f's options_from is wrong in s, or "".
func (s *Set) checkOptionsFrom(f Field) string {
	o := f.OptionsFrom
	if f.Type != TypeText {
		return fmt.Sprintf("options_from fits text fields, not a %s field", f.Type)
	}
	ref, err := s.Collection(o.Collection)
	if err != nil {
		return fmt.Sprintf("options_from names collection %q, which is not declared", o.Collection)
	}
	if !ref.IsReference() {
		return fmt.Sprintf("options_from names collection %q, which is not a reference collection", o.Collection)
	}
	if _, ok := ref.Field(o.Field); !ok {
		return fmt.Sprintf("options_from names field %q, which %q does not declare", o.Field, o.Collection)
	}
	return ""
}

// LogNames returns the collections that travel through the change log
// (every declared collection but the reference ones), in declaration order.
func (s *Set) LogNames() []string {
	out := make([]string, 0, len(s.Collections))
	for _, c := range s.Collections {
		if !c.IsReference() {
			out = append(out, c.Name)
		}
	}
	return out
}

// References returns the reference collections in declaration order.
func (s *Set) References() []*Collection {
	var out []*Collection
	for i := range s.Collections {
		if s.Collections[i].IsReference() {
			out = append(out, &s.Collections[i])
		}
	}
	return out
}
