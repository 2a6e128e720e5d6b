// Package orderstatus joins every service's events into the order-status table, a Goka
// processor.
//
// Consumes: OrderPlaced (<prefix>.order.events), payment events (<prefix>.payment.events),
// inventory events (<prefix>.inventory.events), ShipmentCreated (<prefix>.shipping.events) and
// OrderTimedOut (<prefix>.deadline.events), all keyed by order id and co-partitioned.
// Keeps: schemas.OrderStatus per order id in the group table <prefix>.order-status-table (Avro,
// registered as orderflow.events.OrderStatus): status, cancel reason, the time of each step, a
// history, a version and the ids of applied events. Views read this table (the API's GET
// /orders/{id}).
// Emits: OrderStatusChanged on <prefix>.order-status.changes, keyed by order id, on every change
// of status or reason.
//
// The status is a function of the set of facts, never of their arrival order: each event sets
// the time of its step; a cancellation wins over everything; among the reasons of an order
// cancelled for several, PAYMENT_DECLINED > OUT_OF_STOCK > TIMEOUT (a decisive refusal names the
// cancellation better than a deadline that ran out before it was seen), and cancelled_at is the
// time of the winning reason's earliest event; otherwise the status is the latest step by event
// time (ties broken in step order PLACED < PAYMENT_AUTHORIZED < INVENTORY_RESERVED < SHIPPED).
// The history lists the steps by event time. So replaying the same events in any order rebuilds
// the same table.
package orderstatus
