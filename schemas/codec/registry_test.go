package codec_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

const (
	regUser     = "orderflow"
	regPassword = "s3cret-registry-pw"
	readOnly    = "reader" // authenticates, but may only read
)

// authRegistry is a Confluent-compatible registry that wants basic auth: user regUser with
// regPassword reads and looks up, user readOnly (same password) only reads (403 on lookups);
// anything else is 401 with a JSON body without an error code, which srclient alone would report
// without its status. It knows one schema, id 1 under its subject.
func authRegistry(t *testing.T, sc schemas.Schema) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		if !ok || pw != regPassword || (user != regUser && user != readOnly) {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"authentication required"}`))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/apis/ccompat/v7/schemas/ids/1":
			_ = json.NewEncoder(w).Encode(map[string]any{"schema": sc.Text})
		case r.Method == http.MethodPost && r.URL.Path == "/apis/ccompat/v7/subjects/"+sc.Subject:
			if user == readOnly {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"subject": sc.Subject, "id": 1, "version": 1, "schema": sc.Text})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func firstSchema(t *testing.T) schemas.Schema {
	t.Helper()
	all, err := schemas.All()
	if err != nil || len(all) == 0 {
		t.Fatalf("schemas.All: %v", err)
	}
	return all[0]
}

// With the right credentials — from WithBasicAuth or as user info in the URL — the client reads
// and looks up schemas.
func TestSRClientSendsBasicAuth(t *testing.T) {
	sc := firstSchema(t)
	srv := authRegistry(t, sc)
	for name, reg := range map[string]*codec.SRClient{
		"WithBasicAuth": codec.NewSRClient(srv.URL+"/apis/ccompat/v7", codec.WithBasicAuth(regUser, regPassword)),
		"URL user info": codec.NewSRClient(strings.Replace(srv.URL, "http://", "http://"+regUser+":"+regPassword+"@", 1) + "/apis/ccompat/v7"),
		"WithBasicAuth over the URL's": codec.NewSRClient(strings.Replace(srv.URL, "http://", "http://x:y@", 1)+"/apis/ccompat/v7",
			codec.WithBasicAuth(regUser, regPassword)),
	} {
		t.Run(name, func(t *testing.T) {
			text, err := reg.SchemaText(1)
			if err != nil || text != sc.Text {
				t.Fatalf("SchemaText(1) = %.40q…, %v", text, err)
			}
			if id, err := reg.IDOf(sc.Subject, sc.Text); err != nil || id != 1 {
				t.Fatalf("IDOf = %d, %v", id, err)
			}
		})
	}
}

// Without credentials, or with wrong ones, the error says 401 and what to set, never the
// password; it is transient for the codec (the payload is not at fault: never dead-lettered).
func TestSRClientReportsRefusedCredentials(t *testing.T) {
	sc := firstSchema(t)
	srv := authRegistry(t, sc)
	base := srv.URL + "/apis/ccompat/v7"
	for _, tc := range []struct {
		name   string
		reg    *codec.SRClient
		lookup bool // IDOf rather than SchemaText
		status int
		user   string
		says   string
	}{
		{"no credentials", codec.NewSRClient(base), false, 401, "", "401 authentication required (the registry wants credentials: set ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD)"},
		{"no credentials, lookup", codec.NewSRClient(base), true, 401, "", "401 authentication required"},
		{"wrong password", codec.NewSRClient(base, codec.WithBasicAuth(regUser, "wrong-pw")), false, 401, regUser, `refused the credentials of user "orderflow"`},
		{"forbidden", codec.NewSRClient(base, codec.WithBasicAuth(readOnly, regPassword)), true, 403, readOnly, `403 Forbidden (the registry does not allow user "reader" this request)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.lookup {
				_, err = tc.reg.IDOf(sc.Subject, sc.Text)
			} else {
				_, err = tc.reg.SchemaText(1)
			}
			var authErr *codec.RegistryAuthError
			if !errors.As(err, &authErr) || authErr.StatusCode != tc.status || authErr.Username != tc.user {
				t.Fatalf("err = %v, want a *RegistryAuthError with status %d for user %q", err, tc.status, tc.user)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %q, want it to say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), regPassword) || strings.Contains(err.Error(), "wrong-pw") {
				t.Errorf("err shows a password: %v", err)
			}
			if !codec.IsTransient(err) {
				t.Errorf("err = %v, want it transient (%s)", err, codec.KindRegistryUnavailable)
			}
		})
	}
}

// Through a Serde, a refused request is transient, on decode and on encode alike.
func TestSerdeTreatsRefusedCredentialsAsTransient(t *testing.T) {
	srv := authRegistry(t, firstSchema(t))
	s, err := codec.New(codec.NewSRClient(srv.URL + "/apis/ccompat/v7"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Decode(codec.Frame(1, []byte{0}))
	var authErr *codec.RegistryAuthError
	if !codec.IsTransient(err) || !errors.As(err, &authErr) || authErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("decode err = %v, want a transient 401", err)
	}
}
