package streams

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Event ids derived from a cause are version-5 UUIDs of the cause, type and discriminator in the
// kernel's namespace, as uuid.NewSHA1 makes them: ids already in topics and tables stay valid.
func TestDerivedIDIsUUIDv5(t *testing.T) {
	for _, c := range [][3]string{{"9b2f1f7e-3c1e-4d0e-9a4e-5d1c0f6b7a11", "OrderStatusChanged", ""},
		{"", "", ""}, {"x", "SkuCommand", "SKU-1/HOLD"}, {strings.Repeat("long cause ", 40), "T", "d"}} {
		want := uuid.NewSHA1(idNamespace, []byte(c[0]+"/"+c[1]+"/"+c[2])).String()
		if got := derivedID(c[0], c[1], c[2]); got != want {
			t.Errorf("derivedID%q = %s, want %s", c, got, want)
		}
	}
}
