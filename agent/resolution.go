package agent

import (
	"encoding/json"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// A resolution's audit entry travels in its change's own row, in the
// fieldsync_resolution column (schema.ResolutionColumn): pushed exactly
// once as the change is, pulled by every device with the change.

// resolutionTextMax is the width readers cast fieldsync_resolution to: at
// least store.MaxResolutionBytes characters, so nothing is cut.
const resolutionTextMax = 4 * store.MaxResolutionBytes

// resolutionValue is a change's fieldsync_resolution cell: the resolution
// as JSON text, NULL when the change is not a resolution.
func resolutionValue(c store.Change) drill.Value {
	if c.Resolution == nil {
		return drill.NullValue(drill.VarChar)
	}
	b, err := json.Marshal(c.Resolution)
	if err != nil {
		return drill.NullValue(drill.VarChar)
	}
	return drill.StringValue(string(b))
}

// decodeResolution reads a pulled row's fieldsync_resolution: NULL or
// empty (any change that is not a resolution, and every batch written
// before the column existed) is none; anything else must be a JSON object
// of a resolution's shape. Its content is checked with the change
// (Change.Validate).
func decodeResolution(r Row) (*store.Resolution, error) {
	text, err := textColumn(r, schema.ResolutionColumn, false)
	if err != nil || text == "" {
		return nil, err
	}
	if len(text) > store.MaxResolutionBytes {
		return nil, rowError("%s is %d bytes, more than the %d allowed", schema.ResolutionColumn, len(text), store.MaxResolutionBytes)
	}
	var res *store.Resolution
	if err := json.Unmarshal([]byte(text), &res); err != nil || (res == nil && text != "null") {
		return nil, rowError("%s is not a JSON object of a resolution: %q", schema.ResolutionColumn, cutText(text, 80))
	}
	return res, nil
}
