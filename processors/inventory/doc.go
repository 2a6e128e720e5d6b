// Package inventory is the stock ledger, a Goka processor keyed by SKU.
//
// Consumes: StockAdjusted (<prefix>.stock.events, written by the API through the outbox and
// Debezium), SkuCommand (<prefix>.inventory.sku-commands, from reservations) and RestockReturn
// (the same topic, from the returns orchestrator), all keyed by SKU. Because the two topics are
// co-partitioned (same partition count, murmur2 placement by both Debezium's Java producer and
// our Go producers), every change to one SKU is applied by one partition goroutine, in order:
// holds never oversell, whatever the concurrency.
// Keeps: State per SKU (group table <prefix>.inventory-table, binary streams.StateCodec; the
// stock view reads it too): units on hand, the active holds (order hash, units, hold number), the
// stock version applied, and the return restocks applied within the restock memory (hash of
// order and return, when the command occurred; ORDERFLOW_RESTOCK_MEMORY, default 7 days).
// Emits: SkuReply on <prefix>.inventory.sku-replies, keyed by order id, for every HOLD.
// ReturnRestocked on <prefix>.returns.replies, keyed by order id, for every RestockReturn applied
// and every copy or retry of it (under the same event id, from
// "restock/<order id>/<return id>/<SKU>").
//
// Accounting: available = on hand − held. A HOLD is granted when the whole quantity is available;
// RELEASE returns a hold; COMMIT (the order shipped) removes the held units from on hand. A SKU
// never set has 0 on hand. When every order is terminal nothing is held, so for every SKU:
// available = stock set − units of shipped orders + units restocked from returns (both since the
// stock was last set).
//
// Returns: a RestockReturn puts its units back on hand once per (order, return, SKU). A copy or
// retry is recognised for the restock memory after the command occurred (the orchestrator keeps
// occurred_at constant across its retries of a step) and answered again; a command older than
// the memory reaches back is dead-lettered, never applied (it may have been applied and
// forgotten): check the SKU and apply it by hand.
package inventory
