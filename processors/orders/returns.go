package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders/outbox"
	"github.com/orderflow/orderflow/schemas"
)

var (
	// ErrNotFound is returned (wrapped) for an order or a return the store does not know.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned (wrapped) for a write that contradicts one already made, such as
	// receiving a return again with another condition.
	ErrConflict = errors.New("conflict")
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted (bytes).
const MaxIdempotencyKey = 200

// ReturnItem is one requested line of a return: units of one SKU of the order.
type ReturnItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// ReturnRequest is a customer's request to return units of an order.
type ReturnRequest struct {
	OrderID string       `json:"order_id"`
	Lines   []ReturnItem `json:"lines"`
	Reason  string       `json:"reason"`
}

// ReturnAccepted is the result of RequestReturn.
type ReturnAccepted struct {
	ReturnID string
	Created  bool // false when an earlier request with the same idempotency key made it
}

// Validate reports the first problem of the request's own shape (the order's lines are checked
// by ReturnLines), wrapped in ErrInvalid.
func (r ReturnRequest) Validate() error {
	switch {
	case !idRe.MatchString(r.OrderID):
		return fmt.Errorf("%w: order id must be 1-128 letters, digits or ._:- characters", ErrInvalid)
	case len(r.Lines) == 0:
		return fmt.Errorf("%w: lines must not be empty", ErrInvalid)
	case len(r.Lines) > MaxItems:
		return fmt.Errorf("%w: at most %d lines per return", ErrInvalid, MaxItems)
	case len(r.Reason) > schemas.MaxReturnReason:
		return fmt.Errorf("%w: reason must be at most %d bytes", ErrInvalid, schemas.MaxReturnReason)
	case !utf8.ValidString(r.Reason):
		return fmt.Errorf("%w: reason must be UTF-8 text", ErrInvalid)
	}
	for i, l := range r.Lines {
		switch {
		case !idRe.MatchString(l.SKU):
			return fmt.Errorf("%w: lines[%d].sku must be 1-128 letters, digits or ._:- characters", ErrInvalid, i)
		case l.Quantity <= 0:
			return fmt.Errorf("%w: lines[%d].quantity must be > 0", ErrInvalid, i)
		case l.Quantity > MaxQuantity:
			return fmt.Errorf("%w: lines[%d].quantity must be ≤ %d", ErrInvalid, i, MaxQuantity)
		}
	}
	return nil
}

// merged returns the request's lines with one line per SKU (quantities added up), in the order
// each SKU first appears. Each quantity is at most MaxQuantity and there are at most MaxItems
// lines, so a sum cannot overflow.
func (r ReturnRequest) merged() []ReturnItem {
	var out []ReturnItem
	for _, l := range r.Lines {
		if i := slices.IndexFunc(out, func(m ReturnItem) bool { return m.SKU == l.SKU }); i >= 0 {
			out[i].Quantity += l.Quantity
			continue
		}
		out = append(out, l)
	}
	return out
}

// hash identifies the request for idempotency: the merged lines sorted by SKU and the reason, so
// a retry listing the same lines in another order (or split) is the same request.
func (r ReturnRequest) hash() string {
	lines := r.merged()
	slices.SortFunc(lines, func(a, b ReturnItem) int { return strings.Compare(a.SKU, b.SKU) })
	b, _ := json.Marshal(ReturnRequest{OrderID: r.OrderID, Lines: lines, Reason: r.Reason})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ReturnLines checks a valid request (Validate) against the order's lines (ordered, as placed)
// and the units of each SKU already returned, and returns the return's lines: one per SKU, at the
// unit price of the order's first line of that SKU. A SKU the order does not have, or more units
// than are still returnable (ordered - returned), is an ErrInvalid naming the SKU and how many
// units are still returnable.
func ReturnLines(req ReturnRequest, ordered []schemas.ReturnLine, returned map[string]int64) ([]schemas.ReturnLine, error) {
	var out []schemas.ReturnLine
	for _, l := range req.merged() {
		var total int64
		price, found := int64(0), false
		for _, o := range ordered {
			if o.SKU != l.SKU {
				continue
			}
			if !found {
				price, found = o.UnitPriceMinor, true
			}
			total += int64(o.Quantity)
		}
		if !found {
			return nil, fmt.Errorf("%w: sku %s is not in order %s", ErrInvalid, l.SKU, req.OrderID)
		}
		if l.Quantity > MaxQuantity {
			return nil, fmt.Errorf("%w: sku %s: at most %d units per return line", ErrInvalid, l.SKU, MaxQuantity)
		}
		left := max(total-max(returned[l.SKU], 0), 0)
		if int64(l.Quantity) > left {
			return nil, fmt.Errorf("%w: sku %s: %d units asked, only %d still returnable (%d ordered, %d already returned)",
				ErrInvalid, l.SKU, l.Quantity, left, total, total-left)
		}
		out = append(out, schemas.ReturnLine{SKU: l.SKU, Quantity: int32(l.Quantity), UnitPriceMinor: price})
	}
	return out, nil
}

// CheckIdempotencyKey reports a missing or too long key, wrapped in ErrInvalid.
func CheckIdempotencyKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: an Idempotency-Key header is required", ErrInvalid)
	case len(key) > MaxIdempotencyKey:
		return fmt.Errorf("%w: Idempotency-Key longer than %d characters", ErrInvalid, MaxIdempotencyKey)
	}
	return nil
}

// ParseReturnCondition reads a condition as the API takes it ("ok" or "damaged", in any case).
func ParseReturnCondition(s string) (schemas.ReturnCondition, error) {
	switch c := schemas.ReturnCondition(strings.ToUpper(strings.TrimSpace(s))); c {
	case schemas.ReturnConditionOK, schemas.ReturnConditionDamaged:
		return c, nil
	}
	return "", fmt.Errorf(`%w: condition must be "ok" or "damaged"`, ErrInvalid)
}

// RequestReturn stores a return of units of an order with its ReturnRequested outbox event
// (aggregate "return", keyed by the ORDER id so the event shares the order's partition) in one
// transaction. returned holds the units of each SKU already returned (the returns view's
// State.Returned); the request may return at most the ordered units less those. The
// idempotency key is required: the return id is schemas.ReturnID(order id, key), a retried
// request returns it with Created false and writes nothing (without checking returned again),
// and the same key with another request is ErrIdempotencyConflict. An unknown order is
// ErrNotFound; a bad request ErrInvalid.
func (s *Store) RequestReturn(ctx context.Context, req ReturnRequest, returned map[string]int64, idempotencyKey, traceparent string) (ReturnAccepted, error) {
	if err := CheckIdempotencyKey(idempotencyKey); err != nil {
		return ReturnAccepted{}, err
	}
	if err := req.Validate(); err != nil {
		if !idRe.MatchString(req.OrderID) {
			return ReturnAccepted{}, fmt.Errorf("%w: unknown order %q", ErrNotFound, req.OrderID)
		}
		return ReturnAccepted{}, err
	}
	returnID := schemas.ReturnID(req.OrderID, idempotencyKey)
	hash := req.hash()
	if acc, found, err := s.requestedBefore(ctx, returnID, req.OrderID, idempotencyKey, hash); found || err != nil {
		return acc, err
	}

	currency, ordered, err := s.orderLines(ctx, req.OrderID)
	if err != nil {
		return ReturnAccepted{}, err
	}
	lines, err := ReturnLines(req, ordered, returned)
	if err != nil {
		return ReturnAccepted{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	eventID := uuid.New()
	orderID := req.OrderID
	event := schemas.ReturnRequested{
		Meta: schemas.Metadata{EventID: eventID.String(), EventType: "ReturnRequested", OccurredAt: now,
			OrderID: &orderID, CorrelationID: orderID},
		OrderID: orderID, ReturnID: returnID, Lines: lines, Ordered: ordered, Currency: currency,
		Reason: req.Reason, RequestedAt: now,
	}
	if err := event.Validate(); err != nil {
		return ReturnAccepted{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	payload, err := s.serde.Encode(event)
	if err != nil {
		return ReturnAccepted{}, fmt.Errorf("orders: encode ReturnRequested: %w", err)
	}

	// The return and its outbox row in one round trip, as one (implicit) transaction. A
	// concurrent request with the same key fails the first insert, and with it the whole batch.
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO `+s.schema+`.returns (return_id, order_id, idempotency_key, request_hash, requested_at)
		VALUES ($1, $2, $3, $4, $5)`, returnID, orderID, idempotencyKey, hash, now)
	if _, err := outbox.Queue(batch, s.schema, outbox.Event{ID: eventID, AggregateType: topology.AggregateReturn,
		AggregateID: orderID, Type: "ReturnRequested", Payload: payload, OccurredAt: now, TraceParent: traceparent}); err != nil {
		return ReturnAccepted{}, err
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.TableName == "returns" {
			acc, found, err := s.requestedBefore(ctx, returnID, orderID, idempotencyKey, hash)
			if err == nil && !found {
				err = fmt.Errorf("orders: return %s vanished after a duplicate insert", returnID)
			}
			return acc, err
		}
		if errors.As(err, &pgErr) && pgErr.Code == foreignKeyViolation {
			return ReturnAccepted{}, fmt.Errorf("%w: unknown order %s", ErrNotFound, orderID)
		}
		return ReturnAccepted{}, fmt.Errorf("orders: insert return: %w", err)
	}
	return ReturnAccepted{ReturnID: returnID, Created: true}, nil
}

// foreignKeyViolation is PostgreSQL's SQLSTATE for a foreign key violation.
const foreignKeyViolation = "23503"

// requestedBefore looks the return up: found is false when there is none; a return made by
// another request (another hash, or, against a hash collision of the id, another order or key)
// is ErrIdempotencyConflict.
func (s *Store) requestedBefore(ctx context.Context, returnID, orderID, key, hash string) (ReturnAccepted, bool, error) {
	var existingOrder, existingKey, existingHash string
	err := s.pool.QueryRow(ctx, `SELECT order_id, idempotency_key, request_hash FROM `+s.schema+`.returns WHERE return_id = $1`,
		returnID).Scan(&existingOrder, &existingKey, &existingHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReturnAccepted{}, false, nil
	}
	if err != nil {
		return ReturnAccepted{}, false, fmt.Errorf("orders: read return %s: %w", returnID, err)
	}
	if existingOrder != orderID || existingKey != key || existingHash != hash {
		return ReturnAccepted{}, true, ErrIdempotencyConflict
	}
	return ReturnAccepted{ReturnID: returnID, Created: false}, true, nil
}

// orderLines returns an order's currency and lines as placed (in line order), or ErrNotFound.
func (s *Store) orderLines(ctx context.Context, orderID string) (string, []schemas.ReturnLine, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.currency, l.sku, l.quantity, l.unit_price_minor
		FROM `+s.schema+`.orders o JOIN `+s.schema+`.order_lines l ON l.order_id = o.order_id
		WHERE o.order_id = $1 ORDER BY l.line_no`, orderID)
	if err != nil {
		return "", nil, fmt.Errorf("orders: read lines of %s: %w", orderID, err)
	}
	defer rows.Close()
	var currency string
	var lines []schemas.ReturnLine
	for rows.Next() {
		var l schemas.ReturnLine
		if err := rows.Scan(&currency, &l.SKU, &l.Quantity, &l.UnitPriceMinor); err != nil {
			return "", nil, fmt.Errorf("orders: read lines of %s: %w", orderID, err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("orders: read lines of %s: %w", orderID, err)
	}
	if len(lines) == 0 {
		return "", nil, fmt.Errorf("%w: unknown order %s", ErrNotFound, orderID)
	}
	return currency, lines, nil
}

// ReceiveReturn records that a return's parcel arrived in condition (OK or DAMAGED), with its
// ReturnReceived outbox event (aggregate "return", keyed by the order id) in one transaction.
// created is false, and nothing is written, when the return was already received in that
// condition; in another condition it is an ErrConflict. An unknown return is ErrNotFound.
func (s *Store) ReceiveReturn(ctx context.Context, returnID string, condition schemas.ReturnCondition, traceparent string) (created bool, err error) {
	if condition != schemas.ReturnConditionOK && condition != schemas.ReturnConditionDamaged {
		return false, fmt.Errorf(`%w: condition must be "OK" or "DAMAGED", not %q`, ErrInvalid, condition)
	}
	if _, ok := schemas.ReturnOrder(returnID); !ok {
		return false, fmt.Errorf("%w: unknown return %q", ErrNotFound, returnID)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("orders: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	// The row lock orders concurrent receipts: the second sees received_condition set.
	var orderID string
	err = tx.QueryRow(ctx, `UPDATE `+s.schema+`.returns SET received_condition = $2
		WHERE return_id = $1 AND received_condition IS NULL RETURNING order_id`, returnID, string(condition)).Scan(&orderID)
	if errors.Is(err, pgx.ErrNoRows) {
		var existing *string
		err := tx.QueryRow(ctx, `SELECT received_condition FROM `+s.schema+`.returns WHERE return_id = $1`, returnID).Scan(&existing)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return false, fmt.Errorf("%w: unknown return %s", ErrNotFound, returnID)
		case err != nil:
			return false, fmt.Errorf("orders: read return %s: %w", returnID, err)
		case existing != nil && *existing == string(condition):
			return false, nil
		case existing != nil:
			return false, fmt.Errorf("%w: return %s was already received as %s", ErrConflict, returnID, *existing)
		}
		return false, fmt.Errorf("orders: return %s neither received nor receivable", returnID)
	}
	if err != nil {
		return false, fmt.Errorf("orders: receive return %s: %w", returnID, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	eventID := uuid.New()
	payload, err := s.serde.Encode(schemas.ReturnReceived{
		Meta: schemas.Metadata{EventID: eventID.String(), EventType: "ReturnReceived", OccurredAt: now,
			OrderID: &orderID, CorrelationID: orderID},
		OrderID: orderID, ReturnID: returnID, Condition: condition, ReceivedAt: now,
	})
	if err != nil {
		return false, fmt.Errorf("orders: encode ReturnReceived: %w", err)
	}
	if _, err := outbox.Insert(ctx, tx, s.schema, outbox.Event{ID: eventID, AggregateType: topology.AggregateReturn,
		AggregateID: orderID, Type: "ReturnReceived", Payload: payload, OccurredAt: now, TraceParent: traceparent}); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("orders: commit: %w", err)
	}
	return true, nil
}

// ReturnOrderID returns the order of a stored return; found is false for a return never
// requested (a requested return may not be in the returns view yet).
func (s *Store) ReturnOrderID(ctx context.Context, returnID string) (orderID string, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT order_id FROM `+s.schema+`.returns WHERE return_id = $1`, returnID).Scan(&orderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("orders: order of return %s: %w", returnID, err)
	}
	return orderID, true, nil
}
