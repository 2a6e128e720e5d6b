// Package payments is the payment service, a Goka processor.
//
// Consumes: OrderPlaced (<prefix>.order.events), StockRejected (<prefix>.inventory.events) and
// OrderTimedOut (<prefix>.deadline.events), all keyed by order id.
// Keeps: State per order id (group table <prefix>.payments-table, binary streams.StateCodec):
// the payment decision, the amount, whether stock was rejected and the order's first
// cancellation (OUT_OF_STOCK or TIMEOUT); inputs are recognised as applied from these fields.
// Emits: PaymentAuthorized, PaymentDeclined, PaymentRefunded on <prefix>.payment.events, keyed by
// order id.
//
// Rules (deterministic): an order is declined when its total exceeds 500000 minor units
// (AMOUNT_OVER_LIMIT) or its customer id starts with "deny-" (CUSTOMER_DENIED); otherwise it is
// authorized. The compensation step: an authorized payment is refunded once, on the order's
// first cancellation, a stock rejection or a timeout (the refund's reason is OUT_OF_STOCK or
// TIMEOUT). When a cancellation arrives before the order, the order is never charged.
package payments
