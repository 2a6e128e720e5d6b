// Package shipping is the shipping service, a Goka processor.
//
// Consumes: PaymentAuthorized/Declined (<prefix>.payment.events), StockReserved/Rejected/
// Released (<prefix>.inventory.events) and OrderTimedOut (<prefix>.deadline.events), keyed by
// order id.
// Keeps: State per order id (group table <prefix>.shipping-table, binary streams.StateCodec):
// whether payment is authorized, stock reserved, the order cancelled (declined, out of stock,
// released or timed out) and the shipment created (its id, time and cause).
// Emits: ShipmentCreated on <prefix>.shipping.events, keyed by order id, once both payment is
// authorized and stock reserved (in either order), and never for a cancelled order. The shipment
// id is derived from the order id, so a redelivered trigger creates the same shipment.
package shipping
