package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// MaxReferenceOptions bounds the values ReferenceOptions returns for one
// field (a form's list of choices).
const MaxReferenceOptions = 2000

// ReferencePage is one page of a reference collection's rows, with what the
// device knows of its source.
type ReferencePage struct {
	Rows  []store.RefRow `json:"rows"`
	Next  string         `json:"next"`
	Total int64          `json:"total"`
	// Pulled is false until the first pull of the collection worked.
	Pulled bool `json:"pulled"`
	// CheckedAt and ChangedAt are epoch ms of the last check and of the
	// last pull that changed rows (0: never).
	CheckedAt int64 `json:"checked_at"`
	ChangedAt int64 `json:"changed_at"`
	// Errors are source rows that could not be mapped; LastError is why
	// the last check failed.
	Errors    []string `json:"errors"`
	LastError string   `json:"last_error,omitempty"`
	// Schedule says in words when the collection is pulled.
	Schedule string `json:"schedule"`
}

// ReferenceOptions are the values a form field with options_from offers.
type ReferenceOptions struct {
	Values []string `json:"values"`
	// More reports that the list was cut at MaxReferenceOptions.
	More bool `json:"more"`
	// Pulled is false until the reference collection was first pulled:
	// any value is then accepted.
	Pulled bool `json:"pulled"`
}

// reference returns the declaration of a reference collection, once the
// service is open.
func (s *Service) reference(collection string) (*schema.Collection, error) {
	p, err := s.ready()
	if err != nil {
		return nil, err
	}
	c, err := p.set.Collection(collection)
	if err != nil {
		return nil, err
	}
	if !c.IsReference() {
		return nil, fmt.Errorf("%s is not a reference collection", collection)
	}
	return c, nil
}

// ReferenceRows lists rows of a reference collection whose key or values
// hold search (any case), in key order.
func (s *Service) ReferenceRows(ctx context.Context, collection, search, after string, limit int) (ReferencePage, error) {
	decl, err := s.reference(collection)
	if err != nil {
		return ReferencePage{}, err
	}
	pg, err := s.store.RefRows(ctx, collection, store.RefQuery{Search: search, After: after, Limit: limit})
	if err != nil {
		return ReferencePage{}, err
	}
	st, ok, err := s.store.RefState(ctx, collection)
	if err != nil {
		return ReferencePage{}, err
	}
	out := ReferencePage{
		Rows: pg.Rows, Next: pg.Next, Total: pg.Total, Pulled: ok && st.Fingerprint != "",
		CheckedAt: st.CheckedAt, ChangedAt: st.ChangedAt, Errors: st.Errors, LastError: st.LastError,
		Schedule: agent.DescribeSpec(decl.Reference.EffectiveSchedule()),
	}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	return out, nil
}

// ReferenceOptions returns the values of a reference collection's field
// that a form field taking its options from it offers.
func (s *Service) ReferenceOptions(ctx context.Context, collection, field string) (ReferenceOptions, error) {
	decl, err := s.reference(collection)
	if err != nil {
		return ReferenceOptions{}, err
	}
	if _, ok := decl.Field(field); !ok {
		return ReferenceOptions{}, fmt.Errorf("%s has no field %q", collection, field)
	}
	st, ok, err := s.store.RefState(ctx, collection)
	if err != nil {
		return ReferenceOptions{}, err
	}
	vals, more, err := s.store.RefValues(ctx, collection, field, MaxReferenceOptions)
	if err != nil {
		return ReferenceOptions{}, err
	}
	return ReferenceOptions{Values: vals, More: more, Pulled: ok && st.Fingerprint != ""}, nil
}

// PullReferences checks every reference collection against Drill now,
// whatever their schedules.
func (s *Service) PullReferences(ctx context.Context) ([]agent.RefResult, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	p, err := s.ready()
	if err != nil {
		return nil, err
	}
	out, err := p.agent.PullReferences(ctx, true)
	if out == nil {
		out = []agent.RefResult{}
	}
	return out, err
}

// RefChecker is what Capture needs to check values against reference
// collections.
type RefChecker interface {
	// RefState tells whether a reference collection was pulled.
	RefState(ctx context.Context, collection string) (store.RefState, bool, error)
	// RefHas reports whether a row holds value in an indexed field.
	RefHas(ctx context.Context, collection, field, value string) (bool, error)
}

var _ RefChecker = (*store.Store)(nil)

// ErrReadOnly rejects a change to a reference collection.
var ErrReadOnly = errors.New("a reference collection's rows come from Drill and are read-only on devices")

// checkRefs refuses changes to a reference collection and values of a
// field with options_from that its reference collection does not hold.
// Before the reference collection's first pull any value is accepted:
// there is nothing to check against yet.
func (c *Capture) checkRefs(ctx context.Context, col *schema.Collection, op store.Op, doc []byte) error {
	if col.IsReference() {
		return fmt.Errorf("%s: %w", col.Name, ErrReadOnly)
	}
	if op != store.OpPut || c.Refs == nil {
		return nil
	}
	var m map[string]any
	var probs []schema.FieldError
	for _, f := range col.Fields {
		o := f.OptionsFrom
		if o == nil {
			continue
		}
		if m == nil {
			var err error
			if m, err = schema.DecodeDoc(doc); err != nil {
				return err
			}
		}
		v, ok := m[f.Name].(string)
		if !ok || v == "" {
			continue
		}
		st, pulled, err := c.Refs.RefState(ctx, o.Collection)
		if err != nil {
			return err
		}
		if !pulled || st.Fingerprint == "" {
			continue
		}
		has, err := c.Refs.RefHas(ctx, o.Collection, o.Field, v)
		if err != nil {
			return err
		}
		if !has {
			label := o.Collection
			if ref, err := c.Schema.Collection(o.Collection); err == nil && ref.Label != "" {
				label = ref.Label
			}
			probs = append(probs, schema.FieldError{Field: f.Name, Message: fmt.Sprintf("must be a %s from %s, not %q", o.Field, label, v)})
		}
	}
	if len(probs) > 0 {
		return &schema.ValidationError{Collection: col.Name, Problems: probs}
	}
	return nil
}
