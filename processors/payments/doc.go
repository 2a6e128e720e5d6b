// Package payments is the payment service, a Goka processor.
//
// Consumes: OrderPlaced (<prefix>.order.events) and StockRejected (<prefix>.inventory.events),
// both keyed by order id.
// Keeps: State per order id (group table <prefix>.payments-table, JSON): the payment decision,
// the amount, whether stock was rejected, and the ids of the events already applied.
// Emits: PaymentAuthorized, PaymentDeclined, PaymentRefunded on <prefix>.payment.events, keyed by
// order id.
//
// Rules (deterministic): an order is declined when its total exceeds 500000 minor units
// (AMOUNT_OVER_LIMIT) or its customer id starts with "deny-" (CUSTOMER_DENIED); otherwise it is
// authorized. An authorized payment is refunded when the order's stock is rejected (the
// compensation step). When the stock rejection arrives first, the order is never charged.
package payments
