package gate_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/httpjson"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
	"github.com/orderflow/orderflow/schemas/gate"
)

const (
	user     = "orderflow"
	password = "s3cret-registry-pw"
)

// authRegistry is an empty Confluent-compatible registry that answers 401 (empty body) unless a
// request carries user and password.
func authRegistry(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, pw, ok := r.BasicAuth(); !ok || u != user || pw != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if r.URL.Path == "/apis/ccompat/v7/subjects" {
			_, _ = w.Write([]byte(`["orderflow.events.OrderPlaced"]`))
			return
		}
		w.WriteHeader(http.StatusNotFound) // no subject has versions: every schema is new
		_, _ = w.Write([]byte(`{"error_code":40401,"message":"Subject not found."}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGateSendsBasicAuth(t *testing.T) {
	srv := authRegistry(t)
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*gate.Gate{
		"WithBasicAuth": gate.New(srv.URL+"/apis/ccompat/v7", gate.WithBasicAuth(user, password)),
		"URL user info": gate.New(strings.Replace(srv.URL, "http://", "http://"+user+":"+password+"@", 1) + "/apis/ccompat/v7"),
	} {
		t.Run(name, func(t *testing.T) {
			subjects, err := g.Subjects(context.Background())
			if err != nil || len(subjects) != 1 {
				t.Fatalf("Subjects = %v, %v", subjects, err)
			}
			if findings, err := g.Check(context.Background(), all); err != nil || len(findings) != 0 {
				t.Fatalf("Check = %v, %v", findings, err)
			}
		})
	}
}

// Without credentials, or with wrong ones, the gate's error is a *codec.RegistryAuthError
// saying 401 and what to set, never the password.
func TestGateReportsRefusedCredentials(t *testing.T) {
	srv := authRegistry(t)
	base := srv.URL + "/apis/ccompat/v7"
	all, err := schemas.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    *gate.Gate
		user string
		says string
	}{
		{"no credentials", gate.New(base), "",
			"registry GET /subjects: 401 Unauthorized (the registry wants credentials: set ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD)"},
		{"wrong password", gate.New(base, gate.WithBasicAuth(user, "wrong-pw")), user,
			`401 Unauthorized (the registry refused the credentials of user "orderflow"`},
		{"password without user", gate.New(base, gate.WithBasicAuth("", password)), "", "the registry wants credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.g.Subjects(context.Background())
			var authErr *codec.RegistryAuthError
			if !errors.As(err, &authErr) || authErr.StatusCode != http.StatusUnauthorized || authErr.Username != tc.user ||
				httpjson.StatusOf(err) != http.StatusUnauthorized {
				t.Fatalf("err = %v, want a *codec.RegistryAuthError with status 401 for user %q", err, tc.user)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %q, want it to say %q", err, tc.says)
			}
			_, checkErr := tc.g.Check(context.Background(), all)
			_, applyErr := tc.g.Apply(context.Background(), all)
			for _, e := range []error{err, checkErr, applyErr} {
				if httpjson.StatusOf(e) != http.StatusUnauthorized {
					t.Errorf("err = %v, want status 401", e)
				}
				if e != nil && (strings.Contains(e.Error(), password) || strings.Contains(e.Error(), "wrong-pw")) {
					t.Errorf("err shows a password: %v", e)
				}
			}
		})
	}
}
