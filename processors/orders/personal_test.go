package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/jackc/pgx/v5"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// fakeKeystore seals by prefixing ("pii1." + customer + field + a counter, never the plaintext),
// remembers what it sealed, and forgets a customer on Erase.
type fakeKeystore struct {
	sealed  map[string]string // sealed value → plaintext
	owner   map[string]string // sealed value → customer
	keys    map[string]int    // customer → data keys
	fail    error             // Seal's error, when set
	calls   []string          // "seal <customer> <field>", "erase <customer>"
	counter int
}

func newFakeKeystore() *fakeKeystore {
	return &fakeKeystore{sealed: map[string]string{}, owner: map[string]string{}, keys: map[string]int{}}
}

func (k *fakeKeystore) Seal(_ context.Context, customer, field, plaintext string) (string, error) {
	k.calls = append(k.calls, "seal "+customer+" "+field)
	if k.fail != nil {
		return "", k.fail
	}
	if plaintext == "" {
		return "", nil
	}
	k.counter++
	v := "pii1." + hex.EncodeToString([]byte(customer+"/"+field)) + "." + string(rune('a'+k.counter))
	k.sealed[v], k.owner[v] = plaintext, customer
	if k.keys[customer] == 0 {
		k.keys[customer] = 1
	}
	return v, nil
}

func (k *fakeKeystore) Reveal(_ context.Context, customer, _ string, sealed string) string {
	if k.owner[sealed] != customer {
		return "[unreadable]"
	}
	if k.keys[customer] == 0 {
		return "[erased]"
	}
	return k.sealed[sealed]
}

func (k *fakeKeystore) EraseThen(_ context.Context, customer string, then func(pgx.Tx, int) error) (int, error) {
	k.calls = append(k.calls, "erase "+customer)
	n := k.keys[customer]
	if then != nil {
		if err := then(nil, n); err != nil {
			return 0, err
		}
	}
	k.keys[customer] = 0
	return n, nil
}

func validOrder() NewOrder {
	return NewOrder{CustomerID: "c-1", Currency: "EUR", Items: []Item{{SKU: "SKU-1", Quantity: 2, UnitPriceMinor: 1299}}}
}

func TestValidatePersonalFields(t *testing.T) {
	cases := []struct {
		name string
		edit func(*NewOrder)
		want string // "" when valid
	}{
		{"none", func(*NewOrder) {}, ""},
		{"all three", func(r *NewOrder) {
			r.CustomerName, r.CustomerEmail, r.ShippingAddress = "Zoë Müller", "zoe@example.org", "Hauptstraße 1\n10115 Berlin"
		}, ""},
		{"name at the bound", func(r *NewOrder) { r.CustomerName = strings.Repeat("n", MaxCustomerName) }, ""},
		{"name over the bound", func(r *NewOrder) { r.CustomerName = strings.Repeat("n", MaxCustomerName+1) }, "customer_name must be at most 200 bytes"},
		{"name of multi-byte runes over the bound", func(r *NewOrder) { r.CustomerName = strings.Repeat("é", 101) }, "customer_name must be at most 200 bytes"},
		{"name not UTF-8", func(r *NewOrder) { r.CustomerName = "Zo\xffe" }, "customer_name must be UTF-8"},
		{"email at the bound", func(r *NewOrder) { r.CustomerEmail = strings.Repeat("e", MaxCustomerEmail-4) + "@x.y" }, ""},
		{"email over the bound", func(r *NewOrder) { r.CustomerEmail = strings.Repeat("e", MaxCustomerEmail-3) + "@x.y" }, "customer_email must be at most 254 bytes"},
		{"email without @", func(r *NewOrder) { r.CustomerEmail = "zoe.example.org" }, "customer_email must contain exactly one @"},
		{"email with two @", func(r *NewOrder) { r.CustomerEmail = "zoe@ex@ample.org" }, "customer_email must contain exactly one @"},
		{"email not UTF-8", func(r *NewOrder) { r.CustomerEmail = "zo\xc3@x.y" }, "customer_email must be UTF-8"},
		{"address at the bound", func(r *NewOrder) { r.ShippingAddress = strings.Repeat("a", MaxShippingAddress) }, ""},
		{"address over the bound", func(r *NewOrder) { r.ShippingAddress = strings.Repeat("a", MaxShippingAddress+1) }, "shipping_address must be at most 1000 bytes"},
		{"address not UTF-8", func(r *NewOrder) { r.ShippingAddress = "\xed\xa0\x80" }, "shipping_address must be UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validOrder()
			c.edit(&r)
			err := r.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want ErrInvalid saying %q", err, c.want)
			}
			for _, v := range []string{r.CustomerName, r.CustomerEmail, r.ShippingAddress} {
				if v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("the error repeats a personal field: %v", err)
				}
			}
		})
	}
}

// The request hash of an order without personal data is the one stored before the fields existed
// (a retry across the upgrade is the same request); personal data takes part in it in plaintext,
// so a retry with the same body hashes the same and one with other personal data does not.
func TestRequestHash(t *testing.T) {
	r := validOrder()
	sum := sha256.Sum256([]byte(`{"customer_id":"c-1","currency":"EUR","items":[{"sku":"SKU-1","quantity":2,"unit_price_cents":1299}]}`))
	if got, want := r.hash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("hash of an order without personal data changed: %s, want %s", got, want)
	}
	with := r
	with.CustomerEmail = "zoe@example.org"
	same := with
	if with.hash() == r.hash() || with.hash() != same.hash() {
		t.Error("personal data must take part in the request hash")
	}
	other := with
	other.CustomerEmail = "max@example.org"
	if other.hash() == with.hash() {
		t.Error("other personal data hashed the same")
	}
	if strings.Contains(with.hash(), "zoe") {
		t.Error("the hash holds plaintext")
	}
}

// Without a keystore an order with personal data is refused before anything is written (the
// store has no database here: reaching it would panic); one without personal data needs none.
func TestStoreWithoutKeystoreRefusesPersonalData(t *testing.T) {
	s := NewStore(nil, nil, "public")
	r := validOrder()
	r.ShippingAddress = "Hauptstraße 1"
	_, err := s.Place(context.Background(), r, "", "")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "personal data needs a keystore") {
		t.Fatalf("Place: %v, want ErrInvalid saying personal data needs a keystore", err)
	}
	if got, err := s.seal(context.Background(), validOrder()); err != nil || got != (sealed{}) {
		t.Errorf("seal without personal data: %+v %v", got, err)
	}
	if _, err := s.EraseCustomer(context.Background(), "c-1"); !errors.Is(err, ErrNoKeystore) {
		t.Errorf("EraseCustomer without a keystore: %v, want ErrNoKeystore", err)
	}
}

// Each non-empty personal field is sealed under its field name for the order's customer; empty
// ones are not sealed and stay nil; a keystore failure fails the order (not as invalid input),
// and an invalid request never reaches the keystore.
func TestSealPersonalFields(t *testing.T) {
	ks := newFakeKeystore()
	s := NewStore(nil, nil, "public", WithKeystore(ks))
	r := validOrder()
	r.CustomerName, r.ShippingAddress = "Zoë Müller", "Hauptstraße 1"
	got, err := s.seal(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got.email != nil || got.name == nil || got.address == nil {
		t.Fatalf("sealed %+v: want name and address, no email", got)
	}
	for field, v := range map[string]*string{FieldCustomerName: got.name, FieldShippingAddress: got.address} {
		if !strings.HasPrefix(*v, "pii1.") || strings.Contains(*v, "Zo") || strings.Contains(*v, "Haupt") {
			t.Errorf("%s sealed as %q", field, *v)
		}
	}
	if want := []string{"seal c-1 customer_name", "seal c-1 shipping_address"}; strings.Join(ks.calls, ",") != strings.Join(want, ",") {
		t.Errorf("keystore calls %v, want %v", ks.calls, want)
	}
	if p := ks.Reveal(context.Background(), "c-1", FieldCustomerName, *got.name); p != "Zoë Müller" {
		t.Errorf("revealed %q", p)
	}

	ks.fail = errors.New("keystore down")
	if _, err := s.Place(context.Background(), r, "", ""); err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "keystore down") {
		t.Errorf("Place with a failing keystore: %v, want its error, not ErrInvalid", err)
	}
	ks.fail, ks.calls = nil, nil
	bad := r
	bad.CustomerEmail = "no-at-sign"
	if _, err := s.Place(context.Background(), bad, "", ""); !errors.Is(err, ErrInvalid) || len(ks.calls) != 0 {
		t.Errorf("invalid request: %v, keystore calls %v; want ErrInvalid before any seal", err, ks.calls)
	}
}

// A keystore that hands back the plaintext (or nothing) never gets it into a row or an event.
func TestSealRefusesPlaintextBack(t *testing.T) {
	s := NewStore(nil, nil, "public", WithKeystore(echoKeystore{newFakeKeystore()}))
	r := validOrder()
	r.CustomerName = "Zoë"
	if _, err := s.seal(context.Background(), r); err == nil {
		t.Fatal("a sealed value equal to the plaintext was accepted")
	}
}

type echoKeystore struct{ *fakeKeystore }

func (echoKeystore) Seal(_ context.Context, _, _, plaintext string) (string, error) {
	return plaintext, nil
}

// EraseCustomer checks the customer id first, and records nothing when the keystore destroyed
// no key (the store has no database here: recording would panic).
func TestEraseCustomerWithoutKeys(t *testing.T) {
	ks := newFakeKeystore()
	s := NewStore(nil, nil, "public", WithKeystore(ks))
	for _, id := range []string{"", "-c", "c 1", strings.Repeat("c", 129), "c/1"} {
		if _, err := s.EraseCustomer(context.Background(), id); !errors.Is(err, ErrInvalid) {
			t.Errorf("EraseCustomer(%q): %v, want ErrInvalid", id, err)
		}
	}
	if len(ks.calls) != 0 {
		t.Errorf("an invalid id reached the keystore: %v", ks.calls)
	}
	if n, err := s.EraseCustomer(context.Background(), "c-never"); n != 0 || err != nil {
		t.Errorf("EraseCustomer of a customer without keys: %d %v, want 0 and nothing recorded", n, err)
	}
}

// CustomerErased carries the customer, when and how many keys, and no personal data; it
// round-trips through the codec and travels on the customer aggregate's topic.
func TestErasedEvent(t *testing.T) {
	serde, err := codec.NewInMemory()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	id := uuid.New()
	ev := erasedEvent(id, "c-1", 3, at)
	if ev.Meta.EventID != id.String() || ev.Meta.EventType != "CustomerErased" || ev.Meta.OrderID != nil ||
		ev.Meta.CorrelationID != "c-1" || ev.CustomerID != "c-1" || ev.Keys != 3 || !ev.ErasedAt.Equal(at) {
		t.Errorf("event %+v", ev)
	}
	data, err := serde.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.DecodeInto[schemas.CustomerErased](serde, data)
	if err != nil || got != ev {
		t.Errorf("round trip: %+v %v", got, err)
	}
	if topology.Default().CustomerEvents() != "orderflow."+topology.AggregateCustomer+".events" {
		t.Errorf("customer events on %s", topology.Default().CustomerEvents())
	}
	if big := erasedEvent(id, "c-1", 1<<40, at); big.Keys != 1<<31-1 {
		t.Errorf("keys beyond int32: %d", big.Keys)
	}
}
