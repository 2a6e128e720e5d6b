package orders

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders/outbox"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

//go:embed migrate.sql
var migrateSQL string

// Limits on what one order may hold.
const (
	MaxItems    = 100
	MaxQuantity = schemas.MaxQuantity
)

var (
	// ErrInvalid wraps every validation failure of a request (a 4xx for the API).
	ErrInvalid = errors.New("invalid request")
	// ErrIdempotencyConflict is returned when an Idempotency-Key is reused for another request.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
)

var (
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	idRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

// Item is one requested line.
type Item struct {
	SKU            string `json:"sku"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_cents"` // minor units of Currency (the wire name predates the rename)
}

// NewOrder is a request to place an order.
type NewOrder struct {
	CustomerID string `json:"customer_id"`
	Currency   string `json:"currency"`
	Items      []Item `json:"items"`
	// Personal data, optional (see personal.go): sealed with the customer's data key before it
	// is stored or emitted. omitempty keeps the request hash of an order without them as it was.
	CustomerName    string `json:"customer_name,omitempty"`    // at most MaxCustomerName bytes
	CustomerEmail   string `json:"customer_email,omitempty"`   // at most MaxCustomerEmail bytes, one "@"
	ShippingAddress string `json:"shipping_address,omitempty"` // at most MaxShippingAddress bytes
}

// Validate reports the first problem of the request, wrapped in ErrInvalid.
func (r NewOrder) Validate() error {
	switch {
	case !idRe.MatchString(r.CustomerID):
		return fmt.Errorf("%w: customer_id must be 1-128 letters, digits or ._:- characters", ErrInvalid)
	case !currencyRe.MatchString(r.Currency):
		return fmt.Errorf("%w: currency must be a 3-letter ISO 4217 code such as EUR", ErrInvalid)
	case len(r.Items) == 0:
		return fmt.Errorf("%w: items must not be empty", ErrInvalid)
	case len(r.Items) > MaxItems:
		return fmt.Errorf("%w: at most %d items per order", ErrInvalid, MaxItems)
	}
	for i, it := range r.Items {
		switch {
		case !idRe.MatchString(it.SKU):
			return fmt.Errorf("%w: items[%d].sku must be 1-128 letters, digits or ._:- characters", ErrInvalid, i)
		case it.Quantity <= 0:
			return fmt.Errorf("%w: items[%d].quantity must be > 0", ErrInvalid, i)
		case it.Quantity > MaxQuantity:
			return fmt.Errorf("%w: items[%d].quantity must be ≤ %d", ErrInvalid, i, MaxQuantity)
		case it.UnitPriceMinor < 0 || it.UnitPriceMinor > schemas.MaxUnitPriceMinor:
			return fmt.Errorf("%w: items[%d].unit_price_cents must be between 0 and %d", ErrInvalid, i, int64(schemas.MaxUnitPriceMinor))
		}
	}
	if total, err := r.total(); err != nil || total > schemas.MaxTotalMinor {
		return fmt.Errorf("%w: the order total exceeds %d minor units", ErrInvalid, int64(schemas.MaxTotalMinor))
	}
	return r.validatePersonal()
}

// total adds the lines up with checked arithmetic (an overflow is an error, never a wrapped sum).
func (r NewOrder) total() (int64, error) {
	var t int64
	for _, it := range r.Items {
		line, err := schemas.MulMinor(it.Quantity, it.UnitPriceMinor)
		if err != nil {
			return 0, err
		}
		if t, err = schemas.AddMinor(t, line); err != nil {
			return 0, err
		}
	}
	return t, nil
}

// Total returns the order total in minor units of a request Validate accepted.
func (r NewOrder) Total() int64 {
	t, _ := r.total()
	return t
}

// hash identifies the request for idempotency: a digest of the whole request, personal data in
// plaintext included (a retry with the same body is the same request), of which only the digest is
// ever stored.
func (r NewOrder) hash() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Store writes orders and stock settings with their outbox events.
type Store struct {
	pool   *pgxpool.Pool
	serde  *codec.Serde
	schema string
	keys   Keystore // nil: orders with personal data are refused (see WithKeystore)
}

// NewStore returns a store writing to tables and the outbox in schema.
func NewStore(pool *pgxpool.Pool, serde *codec.Serde, schema string, opts ...StoreOption) *Store {
	s := &Store{pool: pool, serde: serde, schema: schema}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Migrate creates the outbox, orders, order_lines, stock_versions and returns tables
// (idempotent).
func (s *Store) Migrate(ctx context.Context) error {
	if err := outbox.Migrate(ctx, s.pool, s.schema); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, strings.ReplaceAll(migrateSQL, "{{schema}}", s.schema)); err != nil {
		return fmt.Errorf("orders: migrate %s: %w", s.schema, err)
	}
	return nil
}

// Placed is the result of Place.
type Placed struct {
	OrderID string
	Created bool // false when an earlier request with the same idempotency key placed it
	EventID string
}

// Place validates and stores the order with its OrderPlaced outbox event in one transaction.
// With an idempotency key, a retried request returns the first order and writes nothing.
// Personal data is sealed with the keystore before anything is written; only the sealed strings
// are stored and emitted (a store without a keystore refuses it with ErrInvalid).
func (s *Store) Place(ctx context.Context, req NewOrder, idempotencyKey, traceparent string) (Placed, error) {
	if err := req.Validate(); err != nil {
		return Placed{}, err
	}
	if idempotencyKey != "" && len(idempotencyKey) > 200 {
		return Placed{}, fmt.Errorf("%w: Idempotency-Key longer than 200 characters", ErrInvalid)
	}
	hash := req.hash()
	personal, err := s.seal(ctx, req)
	if err != nil {
		return Placed{}, err
	}
	orderID := uuid.NewString()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var key any
	if idempotencyKey != "" {
		key = idempotencyKey
	}

	event := schemas.OrderPlaced{OrderID: orderID, CustomerID: req.CustomerID, Currency: req.Currency,
		TotalMinor: req.Total(), PlacedAt: now, Channel: schemas.ChannelAPI,
		CustomerName: personal.name, CustomerEmail: personal.email, ShippingAddress: personal.address}
	lineNo, skus, quantities, prices := make([]int32, len(req.Items)), make([]string, len(req.Items)), make([]int32, len(req.Items)), make([]int64, len(req.Items))
	for i, it := range req.Items {
		lineNo[i], skus[i], quantities[i], prices[i] = int32(i+1), it.SKU, int32(it.Quantity), it.UnitPriceMinor
		event.Lines = append(event.Lines, schemas.OrderLine{SKU: it.SKU, Quantity: int32(it.Quantity), UnitPriceMinor: it.UnitPriceMinor})
	}
	eventID := uuid.New()
	event.Meta = schemas.Metadata{EventID: eventID.String(), EventType: "OrderPlaced", OccurredAt: now,
		OrderID: &orderID, CorrelationID: orderID}
	payload, err := s.serde.Encode(event)
	if err != nil {
		return Placed{}, fmt.Errorf("orders: encode OrderPlaced: %w", err)
	}

	// The order, its lines and its outbox row in one round trip, as one (implicit) transaction.
	// A reused idempotency key fails the first insert, and with it the whole batch.
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO `+s.schema+`.orders
		(order_id, customer_id, currency, total_minor, placed_at, idempotency_key, request_hash,
		 customer_name_sealed, customer_email_sealed, shipping_address_sealed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		orderID, req.CustomerID, req.Currency, req.Total(), now, key, hash, personal.name, personal.email, personal.address)
	batch.Queue(`INSERT INTO `+s.schema+`.order_lines (order_id, line_no, sku, quantity, unit_price_minor)
		SELECT $1, l.line_no, l.sku, l.quantity, l.unit_price_minor
		FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[]) AS l(line_no, sku, quantity, unit_price_minor)`,
		orderID, lineNo, skus, quantities, prices)
	if _, err := outbox.Queue(batch, s.schema, outbox.Event{ID: eventID, AggregateType: topology.AggregateOrder,
		AggregateID: orderID, Type: "OrderPlaced", Payload: payload, OccurredAt: now, TraceParent: traceparent}); err != nil {
		return Placed{}, err
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		var pgErr *pgconn.PgError
		if idempotencyKey != "" && errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && strings.Contains(pgErr.ConstraintName, "idempotency_key") {
			return s.placedBefore(ctx, idempotencyKey, hash)
		}
		return Placed{}, fmt.Errorf("orders: insert order: %w", err)
	}
	return Placed{OrderID: orderID, Created: true, EventID: eventID.String()}, nil
}

// SetStock records that sku now has available units on hand, as a StockAdjusted outbox event
// keyed by SKU.
func (s *Store) SetStock(ctx context.Context, sku string, available int64, traceparent string) (string, error) {
	if err := ValidateStock(sku, available); err != nil {
		return "", err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	eventID := uuid.New()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("orders: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// The ledger applies a setting only if its version is newer than the last it applied, so a
	// redelivered old setting can never reset the stock.
	var version int64
	if err := tx.QueryRow(ctx, `INSERT INTO `+s.schema+`.stock_versions (sku, version) VALUES ($1, 1)
		ON CONFLICT (sku) DO UPDATE SET version = stock_versions.version + 1 RETURNING version`, sku).Scan(&version); err != nil {
		return "", fmt.Errorf("orders: next stock version of %s: %w", sku, err)
	}
	payload, err := s.serde.Encode(schemas.StockAdjusted{
		Meta: schemas.Metadata{EventID: eventID.String(), EventType: "StockAdjusted", OccurredAt: now, CorrelationID: sku},
		SKU:  sku, Available: available, Version: version,
	})
	if err != nil {
		return "", fmt.Errorf("orders: encode StockAdjusted: %w", err)
	}
	if _, err := outbox.Insert(ctx, tx, s.schema, outbox.Event{ID: eventID, AggregateType: topology.AggregateStock,
		AggregateID: sku, Type: "StockAdjusted", Payload: payload, OccurredAt: now, TraceParent: traceparent}); err != nil {
		return "", err
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("orders: commit: %w", err)
	}
	return eventID.String(), nil
}

// uniqueViolation is PostgreSQL's SQLSTATE for a unique constraint violation.
const uniqueViolation = "23505"

// placedBefore returns the order an earlier request with idempotencyKey placed, or
// ErrIdempotencyConflict when that request was a different one.
func (s *Store) placedBefore(ctx context.Context, idempotencyKey, hash string) (Placed, error) {
	var existing, existingHash string
	err := s.pool.QueryRow(ctx, `SELECT order_id, request_hash FROM `+s.schema+`.orders WHERE idempotency_key = $1`,
		idempotencyKey).Scan(&existing, &existingHash)
	if err != nil {
		return Placed{}, fmt.Errorf("orders: read order of idempotency key: %w", err)
	}
	if existingHash != hash {
		return Placed{}, ErrIdempotencyConflict
	}
	return Placed{OrderID: existing, Created: false}, nil
}

// ValidateStock reports a malformed stock setting, wrapped in ErrInvalid.
func ValidateStock(sku string, available int64) error {
	if !idRe.MatchString(sku) {
		return fmt.Errorf("%w: sku must be 1-128 letters, digits or ._:- characters", ErrInvalid)
	}
	if available < 0 || available > schemas.MaxStock {
		return fmt.Errorf("%w: available must be between 0 and %d", ErrInvalid, int64(schemas.MaxStock))
	}
	return nil
}

// Owner returns the customer of a placed order; found is false for an order id never placed (it
// may be placed and not yet in the status table).
func (s *Store) Owner(ctx context.Context, orderID string) (customer string, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT customer_id FROM `+s.schema+`.orders WHERE order_id = $1`, orderID).Scan(&customer)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("orders: owner of %s: %w", orderID, err)
	}
	return customer, true, nil
}
