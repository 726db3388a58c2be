package drill_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// fakeDrill serves a reply recorded from a real Drillbit, so the examples
// run without one.
func fakeDrill(file string, status int) *httptest.Server {
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		panic(err)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
}

func ExampleClient_Query() {
	srv := fakeDrill("query_ok.json", http.StatusOK)
	defer srv.Close()

	c, err := drill.New(drill.Options{Endpoints: []string{srv.URL}})
	if err != nil {
		panic(err)
	}
	res, err := c.Query(context.Background(), "SELECT i, f, s, b, n FROM dfs.fieldsync.t")
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Columns, res.Types)
	for _, row := range res.Rows {
		i, _ := row.Int64("i")
		f, _ := row.Float64("f")
		s, _ := row.String("s")
		fmt.Println(i, f, s, row.IsNull("n"))
	}
	// Output:
	// [i f s b n] [BIGINT FLOAT8 VARCHAR(4) BIT VARCHAR(65535)]
	// 9223372036854775807 0.1 it's true
	// -9223372036854775808 1e+300  true
}

func ExampleQueryError() {
	srv := fakeDrill("query_failed.json", http.StatusOK)
	defer srv.Close()

	c, _ := drill.New(drill.Options{Endpoints: []string{srv.URL}})
	_, err := c.Query(context.Background(), "SELECT * FROM no_such_table")
	var qe *drill.QueryError
	if errors.As(err, &qe) {
		fmt.Println(qe.State)
		fmt.Println(qe.Message)
	}
	// Output:
	// FAILED
	// From line 1, column 15 to line 1, column 27: Object 'no_such_table' not found: Object 'no_such_table' not found
}

func ExampleClient_Cluster() {
	srv := fakeDrill("cluster.json", http.StatusOK)
	defer srv.Close()

	c, _ := drill.New(drill.Options{Endpoints: []string{srv.URL}})
	cl, err := c.Cluster(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(cl.CurrentVersion, len(cl.Drillbits), cl.Drillbits[0].State)
	// Output: 1.22.0 1 ONLINE
}

func ExampleIsAuthError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What Drill with authentication on answers a call without a login.
		http.Redirect(w, r, "/mainLogin?redirect=%2Fquery.json", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()

	c, _ := drill.New(drill.Options{Endpoints: []string{srv.URL}})
	_, err := c.Query(context.Background(), "SELECT 1")
	fmt.Println(drill.IsAuthError(err))
	// Output: true
}

func ExampleString() {
	for _, s := range []string{"it's", "trailing  ", "line\nbreak", `C:\dir`, "héllo 😀"} {
		lit, err := drill.String(s)
		if err != nil {
			panic(err)
		}
		fmt.Println(lit)
	}
	// Output:
	// 'it''s'
	// 'trailing  '
	// U&'line\000Abreak'
	// U&'C:\\dir'
	// U&'h\00E9llo \D83D\DE00'
}

func ExampleSelectJSON() {
	cols := []drill.Column{{Name: "id", Type: drill.BigInt}, {Name: "note", Type: drill.VarChar}}
	rows := [][]drill.Value{
		{drill.Int64Value(1), drill.StringValue("it's  ")},
		{drill.Int64Value(2), drill.NullValue(drill.VarChar)},
	}
	sel, err := drill.SelectJSON(cols, rows)
	if err != nil {
		panic(err)
	}
	tbl, _ := drill.TablePath("dfs", "fieldsync", "notes/changes/b1")
	fmt.Println("CREATE TABLE " + tbl + " AS " + sel)
	// Output:
	// CREATE TABLE `dfs`.`fieldsync`.`notes/changes/b1` AS SELECT CAST(t.r.`id` AS BIGINT) AS `id`, t.r.`note` AS `note` FROM (SELECT FLATTEN(convert_fromJSON('[{"id":"1","note":"it\u0027s  "},{"id":"2","note":null}]')) AS r FROM (VALUES(1))) AS t
}

func ExampleIdent() {
	id, _ := drill.Ident("odd`name")
	fmt.Println(id)
	_, err := drill.Ident("two\nlines")
	fmt.Println(errors.Is(err, drill.ErrUnencodable))
	// Output:
	// `odd``name`
	// true
}
