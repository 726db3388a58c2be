package schema

import (
	"encoding/json"
	"strconv"
)

// SQLType is the Drill type of a batch column.
type SQLType string

// The Drill types batch columns use.
const (
	SQLVarchar SQLType = "VARCHAR"
	SQLDouble  SQLType = "DOUBLE"
	SQLBigInt  SQLType = "BIGINT"
	SQLBoolean SQLType = "BOOLEAN"
)

// Column is one column of a batch table in Drill.
type Column struct {
	Name string
	Type SQLType
	// Field is the declared field the column holds, empty for metadata.
	Field string
}

// MetaColumns returns the change metadata columns every batch table has, in
// order, before the declared fields. parents is a JSON array of versions as
// text; edited_at is epoch milliseconds; batch_rows is the number of rows the
// batch was written with, so a reader can tell a complete batch from one
// still being written; fieldsync_resolution is a resolution's audit entry.
func MetaColumns() []Column {
	return []Column{
		{Name: "change_id", Type: SQLVarchar},
		{Name: "record_id", Type: SQLVarchar},
		{Name: "op", Type: SQLVarchar},
		{Name: "version", Type: SQLVarchar},
		{Name: "parents", Type: SQLVarchar},
		{Name: "device", Type: SQLVarchar},
		{Name: "author", Type: SQLVarchar},
		{Name: "edited_at", Type: SQLBigInt},
		{Name: "batch_rows", Type: SQLBigInt},
		{Name: ResolutionColumn, Type: SQLVarchar},
	}
}

// ResolutionColumn holds a conflict resolution's audit entry as JSON text
// (store.Resolution: how, chosen, winner_before, note, rules), NULL on every
// other change. Who resolved, when and where are the row's author,
// edited_at and device; the versions resolved are its parents. Its name
// cannot be a field's (reserved), and batches written before it existed
// lack it, so readers cast it to VARCHAR.
const ResolutionColumn = "fieldsync_resolution"

// DocColumn holds the whole record as JSON text; it is the last column.
const DocColumn = "doc"

// SQLType returns the Drill type of the field's column.
func (f Field) SQLType() SQLType {
	switch f.Type {
	case TypeNumber:
		return SQLDouble
	case TypeInteger, TypeDateTime:
		return SQLBigInt
	case TypeBoolean:
		return SQLBoolean
	default:
		return SQLVarchar
	}
}

// Columns returns every column of the collection's batch tables: the
// metadata columns, one per declared field, then doc.
func (c *Collection) Columns() []Column {
	out := MetaColumns()
	for _, f := range c.Fields {
		out = append(out, Column{Name: f.Name, Type: f.SQLType(), Field: f.Name})
	}
	return append(out, Column{Name: DocColumn, Type: SQLVarchar})
}

// ColumnText returns the text the batch row carries for the field's typed
// column, which the outer SELECT casts to the column type: a decimal number,
// "true"/"false", epoch milliseconds for a datetime, or the string itself.
// It returns ok false for a missing, null or ill-typed value (the column is
// then NULL; the value is still kept in doc).
func (f Field) ColumnText(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	if f.check(v) != "" {
		return "", false
	}
	switch f.Type {
	case TypeNumber, TypeInteger:
		return v.(json.Number).String(), true
	case TypeBoolean:
		return strconv.FormatBool(v.(bool)), true
	case TypeDateTime:
		ms, _ := DateTimeMillis(v)
		return strconv.FormatInt(ms, 10), true
	case TypeList:
		b, err := json.Marshal(v)
		return string(b), err == nil
	default:
		return v.(string), true
	}
}
