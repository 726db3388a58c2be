package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing/fstest"

	"github.com/fieldsync/fieldsync/app/bridge"
)

// Greeter stands for the Wails-bound App.
type Greeter struct{}

// Hello greets someone by name.
func (Greeter) Hello(name string) (string, error) {
	if name == "" {
		return "", errors.New("a name is needed")
	}
	return "hello, " + name, nil
}

// Serve a bound struct on a loopback port and call it the way a Go client
// in the same process can: with the API key and the CSRF token in headers.
// Browsers open s.URL() instead and use the cookies it gives them.
func Example() {
	s, err := bridge.New(bridge.Options{
		Bound:  []any{&Greeter{}},
		Assets: fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop(ctx)

	u, _ := url.Parse(s.URL()) // http://127.0.0.1:PORT/?key=...
	for _, body := range []string{`["Ada"]`, `[""]`, `[1]`} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
			"http://"+u.Host+"/api/call/Greeter.Hello", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bridge.HeaderAPIKey, s.APIKey())
		req.Header.Set(bridge.HeaderCSRF, s.CSRFToken())
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(out))
	}
	// Output:
	// 200 {"result":"hello, Ada"}
	// 500 {"error":"a name is needed"}
	// 400 {"error":"Greeter.Hello: argument 1 (string): must be a string, not a JSON number"}
}
