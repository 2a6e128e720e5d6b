package httpjson_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/orderflow/orderflow/internal/httpjson"
)

// A 2xx answer is decoded into out; any other answer is an *Error with the service's message.
func ExampleClient_Do() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/subjects" {
			fmt.Fprint(w, `["orderflow.events.OrderPlaced"]`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":40401,"message":"Subject 'x' not found."}`)
	}))
	defer srv.Close()
	c := httpjson.Client{Service: "registry", Base: srv.URL}

	var subjects []string
	err := c.Do(context.Background(), http.MethodGet, "/subjects", nil, &subjects)
	fmt.Println(subjects, err)

	err = c.Do(context.Background(), http.MethodGet, "/subjects/x/versions", nil, nil)
	fmt.Println(err, errors.Is(err, httpjson.ErrNotFound), httpjson.StatusOf(err))
	// Output:
	// [orderflow.events.OrderPlaced] <nil>
	// registry GET /subjects/x/versions: 404 Subject 'x' not found. true 404
}
