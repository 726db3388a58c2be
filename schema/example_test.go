package schema_test

import (
	"fmt"

	"github.com/fieldsync/fieldsync/schema"
)

func ExampleParse() {
	set, err := schema.Parse([]byte(`{"collections":[{"name":"inspections","policy":"field-merge","fields":[
		{"name":"site","label":"Site","type":"text","required":true},
		{"name":"risk","type":"enum","options":["low","high"]},
		{"name":"inspected_at","type":"datetime"}]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := set.Collection("inspections")
	fmt.Println(c.Name, c.EffectivePolicy())
	for _, col := range c.Columns() {
		if col.Field != "" {
			fmt.Println(col.Name, col.Type)
		}
	}
	// Output:
	// inspections field-merge
	// site VARCHAR
	// risk VARCHAR
	// inspected_at BIGINT
}

func ExampleCollection_Validate() {
	set, _ := schema.Parse([]byte(`{"collections":[{"name":"inspections","fields":[
		{"name":"site","type":"text","required":true},
		{"name":"risk","type":"enum","options":["low","high"]}]}]}`))
	c, _ := set.Collection("inspections")
	fmt.Println(c.Validate([]byte(`{"site":"Quay 3","risk":"low","photo_count":2}`)))
	fmt.Println(c.Validate([]byte(`{"risk":"medium"}`)))
	// Output:
	// <nil>
	// inspections invalid record: site is required; risk must be one of low, high, not "medium"
}
