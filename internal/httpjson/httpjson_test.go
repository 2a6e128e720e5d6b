package httpjson_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

// needsBasicAuth answers 401 unless a request carries user u and password pw.
func needsBasicAuth(u, pw string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gotU, gotPW, ok := r.BasicAuth(); !ok || gotU != u || gotPW != pw {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `["s"]`)
	})
}

func TestBasicAuth(t *testing.T) {
	const password = "s3cret-pw"
	srv := httptest.NewServer(needsBasicAuth("u", password))
	defer srv.Close()
	ctx := context.Background()

	var out []string
	c := httpjson.Client{Service: "registry", Base: srv.URL, Auth: &httpjson.BasicAuth{Username: "u", Password: password}}
	if err := c.Do(ctx, http.MethodGet, "/subjects", nil, &out); err != nil || len(out) != 1 {
		t.Fatalf("with credentials: %v %v", out, err)
	}

	c.Auth = nil
	err := c.Do(ctx, http.MethodGet, "/subjects", nil, nil)
	if httpjson.StatusOf(err) != http.StatusUnauthorized || err.Error() != "registry GET /subjects: 401 Unauthorized" {
		t.Fatalf("without credentials: %v, want registry GET /subjects: 401 Unauthorized", err)
	}

	// user info in Base: net/http sends it; Auth takes precedence over it
	withUser, auth := httpjson.SplitUserInfo(strings.Replace(srv.URL, "http://", "http://u:"+password+"@", 1))
	if withUser != srv.URL || auth == nil || auth.Username != "u" || auth.Password != password {
		t.Fatalf("SplitUserInfo = %s, %+v", withUser, auth)
	}
	c.Base = strings.Replace(srv.URL, "http://", "http://u:"+password+"@", 1)
	if err := c.Do(ctx, http.MethodGet, "/subjects", nil, nil); err != nil {
		t.Fatalf("credentials in the URL: %v", err)
	}
	c.Auth = &httpjson.BasicAuth{Username: "u", Password: "wrong"}
	if err := c.Do(ctx, http.MethodGet, "/subjects", nil, nil); httpjson.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("Auth must take precedence over the URL's user info: %v", err)
	}

	// a base URL that does not parse is reported without quoting it
	c.Base = "http://u:" + password + "@registry:80x"
	if err := c.Do(ctx, http.MethodGet, "/subjects", nil, nil); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("malformed base URL: %v", err)
	}
}

func TestBasicAuthNeverPrintsThePassword(t *testing.T) {
	a := &httpjson.BasicAuth{Username: "u", Password: "s3cret-pw"}
	c := httpjson.Client{Service: "registry", Auth: a}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s %q %x", *a, *a, *a, *a, *a, *a),
		fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, fmt.Sprintf("%x", "s3cret")) {
			t.Errorf("printed the password: %s", s)
		}
	}
	if got := a.String(); got != "u:xxxxx" {
		t.Errorf("String() = %q", got)
	}
}
