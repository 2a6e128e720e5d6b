package endpoints_test

import (
	"fmt"
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
