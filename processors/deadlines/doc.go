// Package deadlines cancels orders that are stuck, a Goka processor: an order not terminal by its
// deadline (PLACED + Timeout) times out, and the other services compensate it.
//
// Consumes: OrderPlaced (<prefix>.order.events), PaymentDeclined (<prefix>.payment.events),
// StockRejected (<prefix>.inventory.events), ShipmentCreated (<prefix>.shipping.events) and
// TimerFired (<prefix>.timers.fired, from the timers scheduler reading this processor's table);
// all keyed by order id.
// Keeps: State per order id (group table <prefix>.deadlines-table, binary): when the order was
// placed, its deadline, and whether it is done (terminal) or timed out. The scheduler
// (processors/kernel/timers) fires the deadline of every order not done.
// Emits: OrderTimedOut on <prefix>.deadline.events, keyed by order id, once, when the deadline
// in effect fires before the order is terminal. Payments refunds, reservations releases the
// holds, shipping never ships, and order-status shows CANCELLED with reason TIMEOUT; an event
// of the order arriving later changes none of that.
//
// The default Timeout (15 minutes, ORDERFLOW_ORDER_DEADLINE) is far beyond what an order takes
// when the pipeline keeps up (a second) and beyond a backlog drained within the lag SLO, so it
// only trips for an order whose step is lost (a service down for long, a reply never sent).
package deadlines
