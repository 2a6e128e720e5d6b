// Package shipping is the shipping service, a Goka processor.
//
// Consumes: PaymentAuthorized/Declined (<prefix>.payment.events) and StockReserved/Rejected/
// Released (<prefix>.inventory.events), keyed by order id.
// Keeps: State per order id (group table <prefix>.shipping-table, JSON): whether payment is
// authorized, stock reserved, the order cancelled or shipped, and the ids of applied events.
// Emits: ShipmentCreated on <prefix>.shipping.events, keyed by order id, once both payment is
// authorized and stock reserved (in either order), and never for a cancelled order. The shipment
// id is derived from the order id, so a redelivered trigger creates the same shipment.
package shipping
