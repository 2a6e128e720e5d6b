// Package shipping is the shipping service, a Goka processor, and the keeper of every order's
// deadline.
//
// Consumes: PaymentAuthorized/Declined (<prefix>.payment.events), StockReserved/Rejected/
// Released (<prefix>.inventory.events), OrderPlaced (<prefix>.order.events), TimerFired
// (<prefix>.timers.fired, from the timers scheduler reading this processor's table) and the
// returns orchestrator's IssueReturnLabel/VoidReturnLabel (<prefix>.returns.tasks); all keyed by
// order id.
// Keeps: State per order id (group table <prefix>.shipping-table, binary streams.StateCodec):
// whether payment is authorized, stock reserved, the order cancelled (declined, out of stock,
// released or timed out), the shipment created (its id, time and cause), the order's deadline
// (placed at + ORDERFLOW_ORDER_DEADLINE, default 15 minutes), and its return labels (return id,
// voided or not; at most MaxReturnLabels per order).
// Emits: ShipmentCreated on <prefix>.shipping.events, keyed by order id, once both payment is
// authorized and stock reserved (in either order), and never for a cancelled order. The shipment
// id is derived from the order id, so a redelivered trigger creates the same shipment.
// OrderTimedOut on <prefix>.deadline.events, keyed by order id, once, when the deadline in
// effect fires before the order is shipped or cancelled: payments refunds, reservations releases
// the holds and order-status shows CANCELLED with reason TIMEOUT.
// ReturnLabelIssued and ReturnLabelVoided on <prefix>.returns.replies, keyed by order id: a
// return label (id "lbl-<return id>") is issued once per return, for a shipped order only (a
// command for an order not shipped is dead-lettered); a void is recorded even for a label never
// issued, so a late issue is answered as voided. Every copy or retry of a command is answered
// again under the same event id (from "label/<return id>" or "label-void/<return id>").
//
// Shipping is where an order's fate is sealed, so the deadline lives here: one state machine
// rules between shipping and timing out, and an order is never both (a separate deadline keeper
// could time out an order whose shipment was on its way, refunding a shipped order).
package shipping
