package orders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders/outbox"
	"github.com/orderflow/orderflow/schemas"
)

// Personal data (crypto-shredding): an order may carry its customer's name, e-mail address and
// shipping address. The store seals each with the customer's data key (internal/pii) before
// anything is written, and keeps and emits only the sealed strings ("pii1.…"): the orders table's
// *_sealed columns and OrderPlaced's personal fields. Erasing a customer destroys its data keys,
// so every copy of its sealed data (rows, events, backups, topics) reads as erased for ever.
// Plaintext is never stored: the idempotency request hash is computed over it, and only the hash
// is kept.

// Keystore is what the store needs of internal/pii's Keystore (a fake in tests).
type Keystore interface {
	// Seal encrypts plaintext with the customer's data key for field ("" stays "").
	Seal(ctx context.Context, customerID, field, plaintext string) (string, error)
	// Reveal decrypts a sealed field: the plaintext, pii.Erased ("[erased]") once the customer's
	// keys are destroyed, or "[unreadable]".
	Reveal(ctx context.Context, customerID, field, sealed string) string
	// Erase destroys every data key of the customer and returns how many it destroyed
	// (idempotent: 0 once they are gone).
	// EraseThen destroys the customer's data keys and runs then, given how many, in the same
	// transaction: both commit or neither does.
	EraseThen(ctx context.Context, customerID string, then func(tx pgx.Tx, keys int) error) (keys int, err error)
}

// Field names under which the personal fields are sealed (the keystore binds each sealed value to
// its customer and field).
const (
	FieldCustomerName    = "customer_name"
	FieldCustomerEmail   = "customer_email"
	FieldShippingAddress = "shipping_address"
)

// Bounds of the personal fields (bytes of UTF-8).
const (
	MaxCustomerName    = 200
	MaxCustomerEmail   = 254
	MaxShippingAddress = 1000
)

// ErrNoKeystore is returned (wrapped) by EraseCustomer and Personal on a store built without a
// keystore; Place refuses personal data then with ErrInvalid.
var ErrNoKeystore = errors.New("personal data needs a keystore")

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithKeystore makes the store accept personal data: it seals it with k, reveals it with k, and
// erases customers with k. Without it, an order carrying personal data is refused (ErrInvalid).
func WithKeystore(k Keystore) StoreOption { return func(s *Store) { s.keys = k } }

// PersonalData is an order's personal fields as revealed: each is the plaintext, "" when the order
// did not carry it, or pii.Erased ("[erased]") once its customer was erased.
type PersonalData struct {
	Name    string
	Email   string
	Address string
}

// ValidCustomerID reports whether id is a well-formed customer id (1-128 letters, digits or ._:-
// characters, starting with a letter or digit), as NewOrder.Validate requires.
func ValidCustomerID(id string) bool { return idRe.MatchString(id) }

// hasPersonal reports whether the request carries any personal field.
func (r NewOrder) hasPersonal() bool {
	return r.CustomerName != "" || r.CustomerEmail != "" || r.ShippingAddress != ""
}

// validatePersonal reports the first problem of the personal fields, wrapped in ErrInvalid. The
// message never repeats a field's value.
func (r NewOrder) validatePersonal() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{{FieldCustomerName, r.CustomerName, MaxCustomerName}, {FieldCustomerEmail, r.CustomerEmail, MaxCustomerEmail},
		{FieldShippingAddress, r.ShippingAddress, MaxShippingAddress}} {
		switch {
		case len(f.value) > f.max:
			return fmt.Errorf("%w: %s must be at most %d bytes", ErrInvalid, f.name, f.max)
		case !utf8.ValidString(f.value):
			return fmt.Errorf("%w: %s must be UTF-8 text", ErrInvalid, f.name)
		}
	}
	if r.CustomerEmail != "" && strings.Count(r.CustomerEmail, "@") != 1 {
		return fmt.Errorf("%w: %s must contain exactly one @", ErrInvalid, FieldCustomerEmail)
	}
	return nil
}

// sealed is the personal data of an order as stored and emitted: nil for a field not given.
type sealed struct {
	name, email, address *string
}

// seal seals the request's non-empty personal fields with the customer's data key. A request
// without personal data needs no keystore; one with personal data and no keystore is refused.
func (s *Store) seal(ctx context.Context, req NewOrder) (sealed, error) {
	if !req.hasPersonal() {
		return sealed{}, nil
	}
	if s.keys == nil {
		return sealed{}, fmt.Errorf("%w: %v", ErrInvalid, ErrNoKeystore)
	}
	var out sealed
	for _, f := range []struct {
		field, plaintext string
		into             **string
	}{{FieldCustomerName, req.CustomerName, &out.name}, {FieldCustomerEmail, req.CustomerEmail, &out.email},
		{FieldShippingAddress, req.ShippingAddress, &out.address}} {
		if f.plaintext == "" {
			continue
		}
		v, err := s.keys.Seal(ctx, req.CustomerID, f.field, f.plaintext)
		if err != nil {
			return sealed{}, fmt.Errorf("orders: seal %s of customer %s: %w", f.field, req.CustomerID, err)
		}
		if v == "" || v == f.plaintext {
			// a keystore that hands back nothing, or the plaintext, must never reach a row
			return sealed{}, fmt.Errorf("orders: seal %s of customer %s: the keystore returned no sealed value", f.field, req.CustomerID)
		}
		*f.into = &v
	}
	return out, nil
}

// Personal returns the customer of an order and its personal fields, revealed (the plaintext, or
// "[erased]" once the customer was erased); found is false for an order id never placed.
func (s *Store) Personal(ctx context.Context, orderID string) (customerID string, p PersonalData, found bool, err error) {
	var name, email, address *string
	err = s.pool.QueryRow(ctx, `SELECT customer_id, customer_name_sealed, customer_email_sealed, shipping_address_sealed
		FROM `+s.schema+`.orders WHERE order_id = $1`, orderID).Scan(&customerID, &name, &email, &address)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", PersonalData{}, false, nil
	}
	if err != nil {
		return "", PersonalData{}, false, fmt.Errorf("orders: personal data of %s: %w", orderID, err)
	}
	if name == nil && email == nil && address == nil {
		return customerID, PersonalData{}, true, nil
	}
	if s.keys == nil {
		return "", PersonalData{}, false, fmt.Errorf("orders: personal data of %s: %w", orderID, ErrNoKeystore)
	}
	reveal := func(field string, v *string) string {
		if v == nil || *v == "" {
			return ""
		}
		return s.keys.Reveal(ctx, customerID, field, *v)
	}
	p = PersonalData{Name: reveal(FieldCustomerName, name), Email: reveal(FieldCustomerEmail, email),
		Address: reveal(FieldShippingAddress, address)}
	return customerID, p, true, nil
}

// EraseCustomer erases a customer's personal data (crypto-shredding): it destroys every data key
// of the customer, so each sealed field of its orders and events reads as "[erased]" from then
// on, and records a CustomerErased outbox event (aggregate "customer", keyed by customer id)
// saying how many keys it destroyed. It returns that number. Idempotent: erasing a customer
// whose keys are gone (or who never had any) destroys nothing, records nothing and returns 0.
//
// The keys are destroyed before the event is written, never after: were the write to fail, the
// data is erased all the same (the error says so), and only the announcement is missing.
func (s *Store) EraseCustomer(ctx context.Context, customerID string) (keys int, err error) {
	if !ValidCustomerID(customerID) {
		return 0, fmt.Errorf("%w: customer id must be 1-128 letters, digits or ._:- characters", ErrInvalid)
	}
	if s.keys == nil {
		return 0, fmt.Errorf("orders: erase customer %s: %w", customerID, ErrNoKeystore)
	}
	// The keys go, and the record of it with them, in one transaction: an erasure is never
	// left without its CustomerErased, and a retry after a failure finds the keys still there.
	keys, err = s.keys.EraseThen(ctx, customerID, func(tx pgx.Tx, keys int) error {
		if keys <= 0 {
			return nil // erased before: nothing new to record
		}
		// The idempotency hash of the customer's orders covered their personal fields: a plain
		// hash someone could test guesses against. It goes too (a retry of such a request is
		// then refused as a conflict, never placed twice).
		if _, err := tx.Exec(ctx, `UPDATE `+s.schema+`.orders SET request_hash = 'erased' WHERE customer_id = $1`, customerID); err != nil {
			return fmt.Errorf("clear the request hashes: %w", err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		eventID := uuid.New()
		payload, err := s.serde.Encode(erasedEvent(eventID, customerID, keys, now))
		if err != nil {
			return fmt.Errorf("encode CustomerErased: %w", err)
		}
		_, err = outbox.Insert(ctx, tx, s.schema, outbox.Event{ID: eventID, AggregateType: topology.AggregateCustomer,
			AggregateID: customerID, Type: "CustomerErased", Payload: payload, OccurredAt: now})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("orders: erase customer %s: %w", customerID, err)
	}
	return keys, nil
}

// erasedEvent is the CustomerErased of an erasure that destroyed keys data keys.
func erasedEvent(eventID uuid.UUID, customerID string, keys int, at time.Time) schemas.CustomerErased {
	n := int32(min(keys, int(^uint32(0)>>1)))
	return schemas.CustomerErased{
		Meta: schemas.Metadata{EventID: eventID.String(), EventType: "CustomerErased", OccurredAt: at,
			CorrelationID: customerID},
		CustomerID: customerID, ErasedAt: at, Keys: n,
	}
}
