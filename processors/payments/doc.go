// Package payments is the payment service, a Goka processor.
//
// Consumes: OrderPlaced (<prefix>.order.events), StockRejected (<prefix>.inventory.events),
// OrderTimedOut (<prefix>.deadline.events) and the returns orchestrator's RefundReturn
// (<prefix>.returns.tasks), all keyed by order id.
// Keeps: State per order id (group table <prefix>.payments-table, binary streams.StateCodec):
// the payment decision, the amount, whether stock was rejected, the order's first cancellation
// (OUT_OF_STOCK or TIMEOUT) and the refunds of its returns (return id and amount, at most
// MaxReturnRefunds); inputs are recognised as applied from these fields.
// Emits: PaymentAuthorized, PaymentDeclined, PaymentRefunded on <prefix>.payment.events, keyed by
// order id. ReturnRefunded on <prefix>.returns.replies, keyed by order id, answering RefundReturn.
//
// Rules (deterministic): an order is declined when its total exceeds 500000 minor units
// (AMOUNT_OVER_LIMIT) or its customer id starts with "deny-" (CUSTOMER_DENIED); otherwise it is
// authorized. The compensation step: an authorized payment is refunded once, on the order's
// first cancellation, a stock rejection or a timeout (the refund's reason is OUT_OF_STOCK or
// TIMEOUT). When a cancellation arrives before the order, the order is never charged.
//
// Returns: a RefundReturn of an AUTHORIZED payment in its currency refunds the amount asked, or
// what the earlier return refunds left of the payment when that is less, once per return; a copy
// or retry is answered again with the amount refunded, under the same event id (from
// "refund/<return id>"). A return refund is partial: the payment stays AUTHORIZED, and a later
// cancellation refunds what the returns left. A RefundReturn of a payment not AUTHORIZED, in
// another currency or of a non-positive amount is dead-lettered.
package payments
