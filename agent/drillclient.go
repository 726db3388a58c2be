package agent

import (
	"context"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// drillClient adapts *drill.Client to Drill.
type drillClient struct {
	c *drill.Client
}

var (
	_ Drill         = drillClient{}
	_ Prober        = drillClient{}
	_ RowReader     = drillClient{}
	_ OptionQuerier = drillClient{}
)

// DrillClient returns the Drill the agent needs, backed by a REST client.
func DrillClient(c *drill.Client) Drill { return drillClient{c: c} }

// Query runs sql and returns its rows.
func (d drillClient) Query(ctx context.Context, sql string) ([]Row, error) {
	return d.query(ctx, sql)
}

// query runs sql with opts and returns its rows.
func (d drillClient) query(ctx context.Context, sql string, opts ...drill.QueryOption) ([]Row, error) {
	res, err := d.c.Query(ctx, sql, opts...)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = r
	}
	return rows, nil
}

// QueryWith runs sql with session options of its own.
func (d drillClient) QueryWith(ctx context.Context, sql string, options map[string]string) ([]Row, error) {
	opts := make([]drill.QueryOption, 0, len(options))
	for k, v := range options {
		opts = append(opts, drill.WithOption(k, v))
	}
	return d.query(ctx, sql, opts...)
}

// QueryEach runs sql and hands each row to each as it is read.
func (d drillClient) QueryEach(ctx context.Context, sql string, each func(Row) error) error {
	_, err := d.c.QueryEach(ctx, sql, func(r drill.Row) error { return each(r) })
	return err
}

// Probe asks the Drillbits for /status.json, which needs no query and, on
// a cluster without sign-in, no session: any Drillbit answering is enough.
func (d drillClient) Probe(ctx context.Context) error {
	_, err := d.c.Status(ctx)
	return err
}
