// Package inventory is the stock ledger, a Goka processor keyed by SKU.
//
// Consumes: StockAdjusted (<prefix>.stock.events, written by the API through the outbox and
// Debezium) and SkuCommand (<prefix>.inventory.sku-commands, from reservations), both keyed by
// SKU. Because the two topics are co-partitioned (same partition count, murmur2 placement by both
// Debezium's Java producer and our Go producers), every change to one SKU is applied by one
// partition goroutine, in order: holds never oversell, whatever the concurrency.
// Keeps: State per SKU (group table <prefix>.inventory-table, JSON): units on hand, the quantity
// held per order, and the ids of recently applied events.
// Emits: SkuReply on <prefix>.inventory.sku-replies, keyed by order id, for every HOLD.
//
// Accounting: available = on hand − held. A HOLD is granted when the whole quantity is available;
// RELEASE returns a hold; COMMIT (the order shipped) removes the held units from on hand. A SKU
// never set has 0 on hand. When every order is terminal nothing is held, so for every SKU:
// available = stock set − units of shipped orders.
package inventory
