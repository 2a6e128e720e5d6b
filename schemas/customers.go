package schemas

import "time"

// The customers' contracts: personal data is never in an event in plaintext (OrderPlaced carries
// it sealed by internal/pii), and erasing a customer destroys its data keys, which the order
// service announces with CustomerErased (through the outbox, on <prefix>.customer.events, keyed
// by customer id).

// CustomerErased: every data key of a customer was destroyed, so its sealed personal data
// (OrderPlaced's customer_name, customer_email, shipping_address) reads as erased wherever it
// is kept. It carries no personal data itself. Metadata.OrderID is nil; CorrelationID is the
// customer id.
type CustomerErased struct {
	Meta       Metadata  `avro:"metadata"`
	CustomerID string    `avro:"customer_id"`
	ErasedAt   time.Time `avro:"erased_at"`
	Keys       int32     `avro:"keys"` // data keys this erasure destroyed
}

func (CustomerErased) AvroName() string     { return Namespace + ".CustomerErased" }
func (e CustomerErased) Metadata() Metadata { return e.Meta }

func customerTypes() []interface{ AvroName() string } {
	return []interface{ AvroName() string }{CustomerErased{}}
}
