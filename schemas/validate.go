package schemas

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by Validate errors: the event violates an invariant of its contract.
var ErrInvalid = errors.New("invalid event")

// Validate checks the invariants every consumer of OrderPlaced relies on: an order id, at least
// one line, positive quantities, non-negative prices and a total equal to the sum of the lines.
func (o OrderPlaced) Validate() error {
	switch {
	case o.OrderID == "":
		return fmt.Errorf("%w: OrderPlaced without order_id", ErrInvalid)
	case o.Meta.EventID == "":
		return fmt.Errorf("%w: OrderPlaced %s without event_id", ErrInvalid, o.OrderID)
	case len(o.Lines) == 0:
		return fmt.Errorf("%w: OrderPlaced %s has no lines", ErrInvalid, o.OrderID)
	}
	var total int64
	for i, l := range o.Lines {
		if l.SKU == "" {
			return fmt.Errorf("%w: OrderPlaced %s line %d has no sku", ErrInvalid, o.OrderID, i)
		}
		if l.Quantity <= 0 {
			return fmt.Errorf("%w: OrderPlaced %s line %d (%s) has quantity %d ≤ 0", ErrInvalid, o.OrderID, i, l.SKU, l.Quantity)
		}
		if l.UnitPriceMinor < 0 {
			return fmt.Errorf("%w: OrderPlaced %s line %d (%s) has a negative price", ErrInvalid, o.OrderID, i, l.SKU)
		}
		total += int64(l.Quantity) * l.UnitPriceMinor
	}
	if total != o.TotalMinor {
		return fmt.Errorf("%w: OrderPlaced %s total %d ≠ sum of lines %d", ErrInvalid, o.OrderID, o.TotalMinor, total)
	}
	return nil
}

// Quantities returns the order's quantity per SKU (lines of the same SKU added up).
func (o OrderPlaced) Quantities() map[string]int32 {
	q := make(map[string]int32, len(o.Lines))
	for _, l := range o.Lines {
		q[l.SKU] += l.Quantity
	}
	return q
}
