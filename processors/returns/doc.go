// Package returns is the returns orchestrator: one processor that owns every return's state
// machine, next to the choreographed order flow (payments, reservations, inventory, shipping
// react to each other's events; nobody owns an order's sequence). A return is a long-running,
// multi-service workflow with a deadline and a compensation, which is what orchestration is for:
//
//	REQUESTED → LABEL_ISSUED → RECEIVED → INSPECTED → REFUNDED → RESTOCKED → COMPLETED
//	                 │                        └→ REJECTED (damaged: no refund, no restock)
//	                 └→ EXPIRED (not received within the return window; the label is voided)
//
// Consumes (keyed by order id, co-partitioned with the order): ReturnRequested and ReturnReceived
// from the return API through the outbox (<prefix>.return.events); the services' answers on its
// reply channel (<prefix>.returns.replies: ReturnLabelIssued, ReturnLabelVoided from shipping,
// ReturnRefunded from payments, ReturnRestocked from the inventory ledger); TimerFired from its
// own timers scheduler (<prefix>.returns.timers).
//
// Keeps: per order, its returns (State, at most MaxReturnsPerOrder): lines, status, history with
// times, the current step's attempt and the return's next deadline — a retry of the step's
// command with backoff, or the end of the return window. The timers scheduler
// (processors/kernel/timers) reads the deadlines from this table's changelog, so they survive
// restarts and rebalances.
//
// Emits: IssueReturnLabel, VoidReturnLabel (→ shipping) and RefundReturn (→ payments) on
// <prefix>.returns.tasks keyed by order id; RestockReturn (→ the inventory ledger) on
// <prefix>.inventory.sku-commands keyed by SKU. Every service applies a command once per return
// and answers a copy again, so the orchestrator may send a step's command as often as it needs
// to: after a crash (DurableCallback's replay) and on every retry.
package returns
