package drill

// WithDefaultSchema runs the query with schema as its default schema
// (like USE schema), e.g. "dfs.fieldsync". Only the tests use it:
// fieldsync's own queries name every table in full.
func WithDefaultSchema(schema string) QueryOption {
	return func(q *queryRequest) { q.DefaultSchema = schema }
}

// WithOption sets a session option for the query (e.g. store.format for a
// CTAS). Only the tests and benchmarks use it.
func WithOption(name, value string) QueryOption {
	return func(q *queryRequest) {
		if q.Options == nil {
			q.Options = map[string]string{}
		}
		q.Options[name] = value
	}
}
