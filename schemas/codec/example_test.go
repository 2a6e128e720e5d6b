package codec_test

import (
	"fmt"
	"time"

	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Encode a typed event on the Confluent wire format and decode it back. In production the
// registry is codec.NewSRClient(ORDERFLOW_REGISTRY_URL) and `orderflow schemas apply` registers.
func Example() {
	reg := codec.NewMemoryRegistry()
	sc, _ := schemas.Lookup("orderflow.events.PaymentAuthorized")
	reg.Register(sc.Subject, sc.Text)
	serde, _ := codec.New(reg)

	orderID := "o-1"
	data, _ := serde.Encode(schemas.PaymentAuthorized{
		Meta: schemas.Metadata{EventID: "e-1", EventType: "PaymentAuthorized",
			OccurredAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), OrderID: &orderID, CorrelationID: orderID},
		OrderID: orderID, AmountMinor: 2598, Currency: "EUR",
	})
	fmt.Printf("magic %d, schema id %d\n", data[0], int(data[4]))

	event, _ := serde.Decode(data)
	paid := event.(schemas.PaymentAuthorized)
	fmt.Println(paid.OrderID, paid.AmountMinor, paid.Currency)

	_, err := serde.Decode([]byte(`{"order_id":"o-1"}`))
	fmt.Println(codec.KindOf(err))
	// Output:
	// magic 0, schema id 1
	// o-1 2598 EUR
	// bad_magic_byte
}
