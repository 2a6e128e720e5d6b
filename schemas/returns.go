package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// The return workflow's contracts: requests from the return API (through the outbox), commands
// from the returns orchestrator to the services, and the services' answers. See
// processors/returns for the state machine.

// ReturnLine is units of one SKU in a return, at the unit price the order was placed with.
type ReturnLine struct {
	SKU            string `avro:"sku"`
	Quantity       int32  `avro:"quantity"`
	UnitPriceMinor int64  `avro:"unit_price_minor"`
}

// ReturnCondition is what the warehouse found in a return's parcel.
type ReturnCondition string

// Return conditions; ReturnConditionUnknown is the schema's default symbol.
const (
	ReturnConditionUnknown ReturnCondition = "UNKNOWN"
	ReturnConditionOK      ReturnCondition = "OK"
	ReturnConditionDamaged ReturnCondition = "DAMAGED"
)

// ReturnRequested: a customer asked to return units of a shipped order (return API, through the
// outbox; keyed by order id).
type ReturnRequested struct {
	Meta        Metadata     `avro:"metadata"`
	OrderID     string       `avro:"order_id"`
	ReturnID    string       `avro:"return_id"`
	Lines       []ReturnLine `avro:"lines"`
	Ordered     []ReturnLine `avro:"ordered"` // the order's lines as placed
	Currency    string       `avro:"currency"`
	Reason      string       `avro:"reason"`
	RequestedAt time.Time    `avro:"requested_at"`
}

// MaxReturnReason bounds a return's free-text reason (bytes).
const MaxReturnReason = 500

// Validate checks the request's own invariants: ids present, at least one line, every line
// within the order's bounds and on a SKU the order has.
func (e ReturnRequested) Validate() error {
	if e.OrderID == "" || e.ReturnID == "" {
		return fmt.Errorf("%w: ReturnRequested without order or return id", ErrInvalid)
	}
	if len(e.Lines) == 0 || len(e.Lines) > MaxLines || len(e.Ordered) == 0 || len(e.Ordered) > MaxLines {
		return fmt.Errorf("%w: ReturnRequested %s has %d lines for an order of %d", ErrInvalid, e.ReturnID, len(e.Lines), len(e.Ordered))
	}
	if len(e.Reason) > MaxReturnReason {
		return fmt.Errorf("%w: ReturnRequested %s: reason longer than %d bytes", ErrInvalid, e.ReturnID, MaxReturnReason)
	}
	for _, lines := range [][]ReturnLine{e.Lines, e.Ordered} {
		for _, l := range lines {
			if msg := CheckLine(int64(l.Quantity), l.UnitPriceMinor); l.SKU == "" || msg != "" {
				return fmt.Errorf("%w: ReturnRequested %s: %s", ErrInvalid, e.ReturnID, msg)
			}
		}
	}
	return nil
}

// ReturnReceived: the warehouse received a return's parcel (return API standing in for a
// carrier scan, through the outbox; keyed by order id).
type ReturnReceived struct {
	Meta       Metadata        `avro:"metadata"`
	OrderID    string          `avro:"order_id"`
	ReturnID   string          `avro:"return_id"`
	Condition  ReturnCondition `avro:"condition"`
	ReceivedAt time.Time       `avro:"received_at"`
}

// IssueReturnLabel: command, returns orchestrator → shipping (keyed by order id).
type IssueReturnLabel struct {
	Meta     Metadata `avro:"metadata"`
	OrderID  string   `avro:"order_id"`
	ReturnID string   `avro:"return_id"`
	Attempt  int32    `avro:"attempt"`
}

// VoidReturnLabel: command, returns orchestrator → shipping, compensating an expired return.
type VoidReturnLabel struct {
	Meta     Metadata `avro:"metadata"`
	OrderID  string   `avro:"order_id"`
	ReturnID string   `avro:"return_id"`
	Attempt  int32    `avro:"attempt"`
}

// RefundReturn: command, returns orchestrator → payments (keyed by order id).
type RefundReturn struct {
	Meta        Metadata `avro:"metadata"`
	OrderID     string   `avro:"order_id"`
	ReturnID    string   `avro:"return_id"`
	AmountMinor int64    `avro:"amount_minor"`
	Currency    string   `avro:"currency"`
	Attempt     int32    `avro:"attempt"`
}

// RestockReturn: command, returns orchestrator → inventory ledger (keyed by SKU).
type RestockReturn struct {
	Meta     Metadata `avro:"metadata"`
	SKU      string   `avro:"sku"`
	OrderID  string   `avro:"order_id"`
	ReturnID string   `avro:"return_id"`
	Quantity int32    `avro:"quantity"`
	Attempt  int32    `avro:"attempt"`
}

// ReturnLabelIssued: shipping issued a return label (keyed by order id).
type ReturnLabelIssued struct {
	Meta     Metadata `avro:"metadata"`
	OrderID  string   `avro:"order_id"`
	ReturnID string   `avro:"return_id"`
	LabelID  string   `avro:"label_id"`
}

// ReturnLabelVoided: shipping voided a return label (keyed by order id).
type ReturnLabelVoided struct {
	Meta     Metadata `avro:"metadata"`
	OrderID  string   `avro:"order_id"`
	ReturnID string   `avro:"return_id"`
	LabelID  string   `avro:"label_id"`
}

// ReturnRefunded: payments refunded a return (keyed by order id).
type ReturnRefunded struct {
	Meta        Metadata `avro:"metadata"`
	OrderID     string   `avro:"order_id"`
	ReturnID    string   `avro:"return_id"`
	AmountMinor int64    `avro:"amount_minor"`
	Currency    string   `avro:"currency"`
}

// ReturnRestocked: the inventory ledger put a return's units of one SKU back on hand (keyed by
// order id).
type ReturnRestocked struct {
	Meta      Metadata `avro:"metadata"`
	OrderID   string   `avro:"order_id"`
	ReturnID  string   `avro:"return_id"`
	SKU       string   `avro:"sku"`
	Quantity  int32    `avro:"quantity"`
	Available int64    `avro:"available"`
}

func (ReturnRequested) AvroName() string   { return Namespace + ".ReturnRequested" }
func (ReturnReceived) AvroName() string    { return Namespace + ".ReturnReceived" }
func (IssueReturnLabel) AvroName() string  { return Namespace + ".IssueReturnLabel" }
func (VoidReturnLabel) AvroName() string   { return Namespace + ".VoidReturnLabel" }
func (RefundReturn) AvroName() string      { return Namespace + ".RefundReturn" }
func (RestockReturn) AvroName() string     { return Namespace + ".RestockReturn" }
func (ReturnLabelIssued) AvroName() string { return Namespace + ".ReturnLabelIssued" }
func (ReturnLabelVoided) AvroName() string { return Namespace + ".ReturnLabelVoided" }
func (ReturnRefunded) AvroName() string    { return Namespace + ".ReturnRefunded" }
func (ReturnRestocked) AvroName() string   { return Namespace + ".ReturnRestocked" }

func (e ReturnRequested) Metadata() Metadata   { return e.Meta }
func (e ReturnReceived) Metadata() Metadata    { return e.Meta }
func (e IssueReturnLabel) Metadata() Metadata  { return e.Meta }
func (e VoidReturnLabel) Metadata() Metadata   { return e.Meta }
func (e RefundReturn) Metadata() Metadata      { return e.Meta }
func (e RestockReturn) Metadata() Metadata     { return e.Meta }
func (e ReturnLabelIssued) Metadata() Metadata { return e.Meta }
func (e ReturnLabelVoided) Metadata() Metadata { return e.Meta }
func (e ReturnRefunded) Metadata() Metadata    { return e.Meta }
func (e ReturnRestocked) Metadata() Metadata   { return e.Meta }

func returnTypes() []interface{ AvroName() string } {
	return []interface{ AvroName() string }{ReturnRequested{}, ReturnReceived{}, IssueReturnLabel{},
		VoidReturnLabel{}, RefundReturn{}, RestockReturn{}, ReturnLabelIssued{}, ReturnLabelVoided{},
		ReturnRefunded{}, ReturnRestocked{}}
}

// ReturnID is the id of the return an order's customer asked for with idempotencyKey: the order
// id, "-r" and 12 hex digits of a hash of both, so that a retried request names the same return
// and the order is found from the return id alone (ReturnOrder).
func ReturnID(orderID, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(orderID + "\x00" + idempotencyKey))
	return orderID + "-r" + hex.EncodeToString(sum[:6])
}

// ReturnOrder returns the order id of a return id made by ReturnID; ok is false for a string
// that is not one.
func ReturnOrder(returnID string) (orderID string, ok bool) {
	i := strings.LastIndex(returnID, "-r")
	if i <= 0 || len(returnID)-i-2 != 12 {
		return "", false
	}
	if _, err := hex.DecodeString(returnID[i+2:]); err != nil || strings.ToLower(returnID[i+2:]) != returnID[i+2:] {
		return "", false
	}
	return returnID[:i], true
}
