package endpoints_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/endpoints"
)

func ExampleRedact() {
	fmt.Println(endpoints.Redact("postgres://app:s3cret@db:5432/orderflow?sslmode=require"))
	fmt.Println(endpoints.Redact("http://registry:8081/apis/ccompat/v7"))
	// Output:
	// postgres://app:xxxxx@db:5432/orderflow?sslmode=require
	// http://registry:8081/apis/ccompat/v7
}

// A password with characters that need escaping reaches PostgreSQL unchanged.
func TestPasswordFromTheEnvironmentIsEscapedAsUserInfo(t *testing.T) {
	t.Setenv("ORDERFLOW_PG_DSN", "")
	t.Setenv("ORDERFLOW_PG_PASSWORD", "a b+c@d/e")
	got := endpoints.FromEnv().PGDSN
	if got != "postgres://postgres:a%20b+c%40d%2Fe@localhost:5432/orderflow" {
		t.Errorf("DSN %s", got)
	}
}

func ExampleRedact_registryCredentials() {
	fmt.Println(endpoints.Redact("https://reg:s3cret@registry.example/apis/ccompat/v7"))
	fmt.Println(endpoints.Redact("https://reg:s3cret@registry.example:80x/apis")) // does not parse
	// Output:
	// https://reg:xxxxx@registry.example/apis/ccompat/v7
	// <redacted>
}

// The registry's credentials come from ORDERFLOW_REGISTRY_USERNAME and
// ORDERFLOW_REGISTRY_PASSWORD; only RegistryCredentials hands the password out, and no way of
// printing Endpoints shows it.
func TestRegistryPasswordIsNeverPrinted(t *testing.T) {
	const password = "pa55-w0rd-in-env"
	t.Setenv("ORDERFLOW_REGISTRY_USERNAME", " orderflow ")
	t.Setenv("ORDERFLOW_REGISTRY_PASSWORD", password)
	ep := endpoints.FromEnv()
	if user, pw := ep.RegistryCredentials(); user != "orderflow" || pw != password {
		t.Fatalf("RegistryCredentials() = %q, %q", user, pw)
	}
	if err := ep.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	js, err := json.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	var text, jsonLog bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("start", "endpoints", ep, "password", ep.RegistryPassword)
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("start", "endpoints", ep, "password", ep.RegistryPassword)
	outputs := map[string]string{
		"String": ep.String(), "%v": fmt.Sprintf("%v", ep), "%+v": fmt.Sprintf("%+v", ep),
		"%#v": fmt.Sprintf("%#v", ep), "%s of the password": fmt.Sprintf("%s", ep.RegistryPassword),
		"%q of the password": fmt.Sprintf("%q", ep.RegistryPassword), "%x of the password": fmt.Sprintf("%x", ep.RegistryPassword),
		"json": string(js), "slog text": text.String(), "slog json": jsonLog.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, password) || strings.Contains(out, fmt.Sprintf("%x", password)) {
			t.Errorf("%s shows the password: %s", how, out)
		}
	}
	if s := ep.String(); !strings.Contains(s, "basic orderflow:xxxxx") {
		t.Errorf("String() = %q, want it to name the registry user", s)
	}
}

func TestValidateRegistryCredentials(t *testing.T) {
	const password = "s3cret-pw"
	base := endpoints.FromEnv()
	base.RegistryUsername, base.RegistryPassword = "", ""
	for _, tc := range []struct {
		name, url, user string
		password        endpoints.Secret
		wantErr         string // "" for none
	}{
		{name: "none", url: "http://registry:8081/apis/ccompat/v7"},
		{name: "both", url: "http://registry:8081/apis/ccompat/v7", user: "u", password: password},
		{name: "in the URL", url: "https://u:" + password + "@registry/apis/ccompat/v7"},
		{name: "user without password", url: "http://registry:8081", user: "u",
			wantErr: "set ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD together"},
		{name: "password without user", url: "http://registry:8081", password: password,
			wantErr: "set ORDERFLOW_REGISTRY_USERNAME and ORDERFLOW_REGISTRY_PASSWORD together"},
		{name: "URL and variables", url: "https://u:" + password + "@registry/apis", user: "u", password: password,
			wantErr: "use one"},
		{name: "URL user without password", url: "https://u@registry/apis",
			wantErr: "needs both a user name and a password"},
		{name: "malformed URL with a password", url: "https://u:" + password + "@registry:80x/apis",
			wantErr: "not an absolute http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := base
			ep.RegistryURL, ep.RegistryUsername, ep.RegistryPassword = tc.url, tc.user, tc.password
			err := ep.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), password):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
