// Package schema holds the collection declarations of fieldsync: which
// collections exist, their fields (name, label, type, required, enum
// options, options_from), their conflict policy and per-field merge rules,
// and reference collections (read-only rows from a Drill query, with a key,
// a column mapping and a schedule).
//
// One declarations file (JSON, see docs/examples/collections.json) drives the
// frontend's forms, the validation of every record before it enters the
// journal, and the Drill columns a batch is written with. Every batch table
// holds the change metadata columns, one typed column per declared field
// (datetime as BIGINT epoch milliseconds) and the whole record as JSON text in
// the doc column, so fields that are not declared are never lost and batches
// written before a field was declared stay readable: the agent reads records
// back from doc only.
package schema
