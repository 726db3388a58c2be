package drill

// WithDefaultSchema runs the query with schema as its default schema
// (like USE schema), e.g. "dfs.fieldsync". Only the tests use it:
// fieldsync's own queries name every table in full.
func WithDefaultSchema(schema string) QueryOption {
	return func(q *queryRequest) { q.DefaultSchema = schema }
}
