// Package reservations coordinates an order's stock reservation across SKUs, a Goka processor.
//
// Stock lives in the inventory ledger, keyed by SKU, so that every change to one SKU is
// serialized on one partition and nothing is ever oversold. An order touches several SKUs, so
// this processor, keyed by order id, runs a small saga: it asks the ledger to HOLD each SKU,
// collects the replies, and then either confirms (StockReserved) or undoes the holds it got
// (RELEASE) and reports the shortage (StockRejected): all or nothing.
//
// Consumes: OrderPlaced (<prefix>.order.events), PaymentDeclined (<prefix>.payment.events),
// ShipmentCreated (<prefix>.shipping.events), SkuReply (<prefix>.inventory.sku-replies),
// OrderTimedOut (<prefix>.deadline.events); all keyed by order id.
// Keeps: State per order id (group table <prefix>.reservations-table, binary
// streams.StateCodec): the phase, the quantity per SKU, the ledger's replies (with their hold
// numbers), whether the payment was declined or the shipment seen, and the order's first
// cancellation (PAYMENT_DECLINED or TIMEOUT); inputs are recognised as applied from these.
// Emits: SkuCommand HOLD/RELEASE/COMMIT on <prefix>.inventory.sku-commands (keyed by SKU) and
// StockReserved, StockRejected, StockReleased on <prefix>.inventory.events (keyed by order id).
//
// Compensation: an order's first cancellation, a declined payment or a timeout, releases its
// reservation (at once when reserved, or as soon as the last reply arrives when still pending;
// StockReleased carries PAYMENT_DECLINED or TIMEOUT as its reason); an order cancelled before it
// arrives holds nothing, and a hold granted for it anyway is released. A shipment commits the
// reservation (the held quantity leaves stock for good).
package reservations
