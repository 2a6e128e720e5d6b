package schemas

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid is wrapped by Validate errors: the event violates an invariant of its contract.
var ErrInvalid = errors.New("invalid event")

// ErrOverflow is wrapped (together with ErrInvalid by Validate) when an amount does not fit in
// int64 minor units.
var ErrOverflow = errors.New("amount overflows int64 minor units")

// Bounds of an order, shared by the API (which answers 400 beyond them), OrderPlaced.Validate
// (processors dead-letter an event beyond them with kind "rejected") and the orders table's
// CHECK constraints. Within them MaxQuantity × MaxUnitPriceMinor = 10^18 still fits in int64, and
// every sum is computed with overflow checks anyway, so no total ever wraps.
const (
	// MaxQuantity is the largest quantity of one line: a million units, far beyond any real
	// basket, and small enough for the Avro int field.
	MaxQuantity = 1_000_000
	// MaxUnitPriceMinor is the largest unit price in minor units: 10^12 cents, ten billion in
	// major units.
	MaxUnitPriceMinor = 1_000_000_000_000
	// MaxLines is the largest number of lines of one OrderPlaced. The API accepts fewer items
	// (orders.MaxItems); the contract leaves room for other producers while bounding the size
	// of one event (500 lines stay far below the codec's 1 MiB payload limit).
	MaxLines = 500
	// MaxTotalMinor is the largest order total in minor units: 10^15 cents, ten trillion in
	// major units, a thousand times below the int64 limit.
	MaxTotalMinor = 1_000_000_000_000_000
	// MaxStock is the largest quantity a SKU's stock may be set to (PUT /inventory/{sku}).
	MaxStock = 1_000_000_000_000
)

// MulMinor returns quantity × unitPriceMinor, or an error wrapping ErrOverflow when the product
// does not fit in int64.
func MulMinor(quantity, unitPriceMinor int64) (int64, error) {
	if quantity == 0 || unitPriceMinor == 0 {
		return 0, nil
	}
	p := quantity * unitPriceMinor
	if p/unitPriceMinor != quantity || (p < 0) != ((quantity < 0) != (unitPriceMinor < 0)) {
		return 0, fmt.Errorf("%w: %d × %d", ErrOverflow, quantity, unitPriceMinor)
	}
	return p, nil
}

// AddMinor returns a + b, or an error wrapping ErrOverflow when the sum does not fit in int64.
func AddMinor(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("%w: %d + %d", ErrOverflow, a, b)
	}
	return a + b, nil
}

// CheckLine reports the first bound a line violates (quantity 1..MaxQuantity, unit price
// 0..MaxUnitPriceMinor) as a short message, or "" when the line is within bounds.
func CheckLine(quantity, unitPriceMinor int64) string {
	switch {
	case quantity <= 0:
		return fmt.Sprintf("quantity %d ≤ 0", quantity)
	case quantity > MaxQuantity:
		return fmt.Sprintf("quantity %d > %d", quantity, MaxQuantity)
	case unitPriceMinor < 0:
		return fmt.Sprintf("unit price %d < 0", unitPriceMinor)
	case unitPriceMinor > MaxUnitPriceMinor:
		return fmt.Sprintf("unit price %d > %d", unitPriceMinor, MaxUnitPriceMinor)
	}
	return ""
}

// Validate checks the invariants every consumer of OrderPlaced relies on: an order id, 1 to
// MaxLines lines, quantities in 1..MaxQuantity, unit prices in 0..MaxUnitPriceMinor, and a total
// equal to the sum of the lines (computed without overflow) and at most MaxTotalMinor. Every
// error wraps ErrInvalid.
func (o OrderPlaced) Validate() error {
	switch {
	case o.OrderID == "":
		return fmt.Errorf("%w: OrderPlaced without order_id", ErrInvalid)
	case o.Meta.EventID == "":
		return fmt.Errorf("%w: OrderPlaced %s without event_id", ErrInvalid, o.OrderID)
	case len(o.Lines) == 0:
		return fmt.Errorf("%w: OrderPlaced %s has no lines", ErrInvalid, o.OrderID)
	case len(o.Lines) > MaxLines:
		return fmt.Errorf("%w: OrderPlaced %s has %d lines, at most %d are allowed", ErrInvalid, o.OrderID, len(o.Lines), MaxLines)
	}
	var total int64
	for i, l := range o.Lines {
		if l.SKU == "" {
			return fmt.Errorf("%w: OrderPlaced %s line %d has no sku", ErrInvalid, o.OrderID, i)
		}
		if msg := CheckLine(int64(l.Quantity), l.UnitPriceMinor); msg != "" {
			return fmt.Errorf("%w: OrderPlaced %s line %d (%s) has %s", ErrInvalid, o.OrderID, i, l.SKU, msg)
		}
		amount, err := MulMinor(int64(l.Quantity), l.UnitPriceMinor)
		if err == nil {
			total, err = AddMinor(total, amount)
		}
		if err != nil {
			return fmt.Errorf("%w: OrderPlaced %s sum of lines up to line %d: %w", ErrInvalid, o.OrderID, i, err)
		}
	}
	if total > MaxTotalMinor {
		return fmt.Errorf("%w: OrderPlaced %s sum of lines %d exceeds the maximum total %d", ErrInvalid, o.OrderID, total, MaxTotalMinor)
	}
	if total != o.TotalMinor {
		return fmt.Errorf("%w: OrderPlaced %s total %d ≠ sum of lines %d", ErrInvalid, o.OrderID, o.TotalMinor, total)
	}
	return nil
}

// Quantities returns the order's quantity per SKU (lines of the same SKU added up). For an order
// that passes Validate the sums fit in int32 (MaxLines × MaxQuantity < 2^31).
func (o OrderPlaced) Quantities() map[string]int32 {
	q := make(map[string]int32, len(o.Lines))
	for _, l := range o.Lines {
		q[l.SKU] += l.Quantity
	}
	return q
}
