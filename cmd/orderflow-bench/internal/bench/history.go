package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// History is what WriteHistory wrote.
type History struct {
	Orders   int
	Events   int64            // messages written, all topics
	PerTopic map[string]int64 // messages per topic
	Outcomes map[schemas.Status]int
	Elapsed  time.Duration
}

var benchNamespace = uuid.MustParse("5d1c7e56-6b1e-4c71-9a63-2b9d0f1c1a10")

// OrderID returns the id of synthetic order i (stable across runs).
func OrderID(i int) string {
	return uuid.NewSHA1(benchNamespace, fmt.Appendf(nil, "order-%d", i)).String()
}

// HistoryOf returns the events the pipeline would have produced for synthetic order i, in
// causal order, by topic: 70% shipped (placed, authorized, reserved, shipped), 10% payment
// declined, 20% out of stock (authorized, rejected, refunded) — the outcome mix of loadgen.
func HistoryOf(t topology.Topology, i int, at time.Time) (events []schemas.Event, topics []string, final schemas.Status) {
	id := OrderID(i)
	meta := func(n int, typ string) schemas.Metadata {
		oid := id
		return schemas.Metadata{EventID: uuid.NewSHA1(benchNamespace, fmt.Appendf(nil, "%s/%d", id, n)).String(), EventType: typ,
			OccurredAt: at.Add(time.Duration(n) * time.Millisecond), OrderID: &oid, CorrelationID: id}
	}
	add := func(topic string, ev schemas.Event) {
		events = append(events, ev)
		topics = append(topics, topic)
	}
	sku := fmt.Sprintf("SKU-%d", 1+i%4)
	total := int64(999 + (i%5)*1000)
	add(string(t.OrderEvents()), schemas.OrderPlaced{Meta: meta(0, "OrderPlaced"), OrderID: id, CustomerID: fmt.Sprintf("c-%d", i),
		Currency: "EUR", Lines: []schemas.OrderLine{{SKU: sku, Quantity: 1, UnitPriceMinor: total}}, TotalMinor: total,
		PlacedAt: at, Channel: schemas.ChannelAPI})
	switch i % 20 {
	case 14, 15:
		add(string(t.PaymentEvents()), schemas.PaymentDeclined{Meta: meta(1, "PaymentDeclined"), OrderID: id, AmountMinor: total,
			Currency: "EUR", Reason: schemas.DeclineCustomerDenied, Detail: "bench"})
		return events, topics, schemas.StatusCancelled
	case 16, 17, 18, 19:
		add(string(t.PaymentEvents()), schemas.PaymentAuthorized{Meta: meta(1, "PaymentAuthorized"), OrderID: id, AmountMinor: total, Currency: "EUR"})
		add(string(t.InventoryEvents()), schemas.StockRejected{Meta: meta(2, "StockRejected"), OrderID: id,
			ShortLines: []schemas.ShortLine{{SKU: sku, Requested: 1, Available: 0}}})
		add(string(t.PaymentEvents()), schemas.PaymentRefunded{Meta: meta(3, "PaymentRefunded"), OrderID: id, AmountMinor: total,
			Currency: "EUR", Reason: "OUT_OF_STOCK"})
		return events, topics, schemas.StatusCancelled
	default:
		add(string(t.PaymentEvents()), schemas.PaymentAuthorized{Meta: meta(1, "PaymentAuthorized"), OrderID: id, AmountMinor: total, Currency: "EUR"})
		add(string(t.InventoryEvents()), schemas.StockReserved{Meta: meta(2, "StockReserved"), OrderID: id,
			Lines: []schemas.StockLine{{SKU: sku, Quantity: 1}}})
		add(string(t.ShippingEvents()), schemas.ShipmentCreated{Meta: meta(3, "ShipmentCreated"), OrderID: id,
			ShipmentID: "shp-" + id, CreatedAt: at.Add(3 * time.Millisecond)})
		return events, topics, schemas.StatusShipped
	}
}

// WriteHistory writes the history of orders synthetic orders into t's event topics, keyed by
// order id with murmur2 placement and the outbox headers, as Debezium and the processors write
// them. It returns once every message is acknowledged.
func WriteHistory(ctx context.Context, brokers []string, serde *codec.Serde, t topology.Topology, orders int) (History, error) {
	producer, err := bulkProducer(brokers, "orderflow-bench-history")
	if err != nil {
		return History{}, fmt.Errorf("history: %w", err)
	}
	h := History{Orders: orders, PerTopic: map[string]int64{}, Outcomes: map[schemas.Status]int{}}
	start := time.Now()
	acked := make(chan ackResult, 1)
	go func() { acked <- drainAcks(producer) }()
	var sent int64
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	for i := 0; i < orders && ctx.Err() == nil; i++ {
		events, topics, final := HistoryOf(t, i, base.Add(time.Duration(i)*time.Millisecond))
		h.Outcomes[final]++
		for k, ev := range events {
			payload, err := serde.Encode(ev)
			if err != nil {
				producer.AsyncClose()
				<-acked
				return History{}, fmt.Errorf("history: encode %s: %w", ev.AvroName(), err)
			}
			meta := ev.Metadata()
			producer.Input() <- &sarama.ProducerMessage{Topic: topics[k], Key: sarama.StringEncoder(*meta.OrderID),
				Value: sarama.ByteEncoder(payload), Headers: []sarama.RecordHeader{
					{Key: []byte(streams.HeaderEventID), Value: []byte(meta.EventID)},
					{Key: []byte(streams.HeaderEventType), Value: []byte(meta.EventType)}}}
			h.PerTopic[topics[k]]++
			sent++
		}
	}
	producer.AsyncClose()
	ack := <-acked
	if ack.err != nil {
		return History{}, fmt.Errorf("history: produce: %w", ack.err)
	}
	if ctx.Err() == nil && ack.acked != sent {
		return History{}, fmt.Errorf("history: %d messages sent, %d acknowledged", sent, ack.acked)
	}
	if ctx.Err() != nil {
		return History{}, ctx.Err()
	}
	h.Events = sent
	h.Elapsed = time.Since(start)
	return h, nil
}

// bulkProducer returns an async producer that batches (1000 messages or 5 ms) and waits for the
// leader only, several requests in flight, not idempotent: for writing test data fast, not for
// the pipeline.
func bulkProducer(brokers []string, clientID string) (sarama.AsyncProducer, error) {
	cfg := kafka.NewSaramaConfig(clientID)
	cfg.Producer.Flush.Messages = 1000
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	return sarama.NewAsyncProducer(brokers, cfg)
}

type ackResult struct {
	acked int64
	err   error
}

// drainAcks counts a producer's successes until it is closed and keeps its first error.
func drainAcks(producer sarama.AsyncProducer) ackResult {
	var r ackResult
	succ, errs := producer.Successes(), producer.Errors()
	for succ != nil || errs != nil {
		select {
		case _, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			r.acked++
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if r.err == nil {
				r.err = e.Err
			}
		}
	}
	return r
}

// WriteTable writes an order-status table of keys synthetic orders into topic: the value of
// each order is what the order-status processor folds from its HistoryOf, Avro-encoded as in
// the processor's table. It returns the status counts of the values written.
func WriteTable(ctx context.Context, brokers []string, serde *codec.Serde, t topology.Topology, topic string, keys int) (map[schemas.Status]int, error) {
	producer, err := bulkProducer(brokers, "orderflow-bench-table")
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	acked := make(chan ackResult, 1)
	go func() { acked <- drainAcks(producer) }()
	statuses := map[schemas.Status]int{}
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	var sent int64
	var encErr error
	for i := 0; i < keys && ctx.Err() == nil; i++ {
		events, _, _ := HistoryOf(t, i, base.Add(time.Duration(i)*time.Millisecond))
		s := schemas.OrderStatus{OrderID: OrderID(i), Status: schemas.StatusUnknown, History: []schemas.StatusEntry{}, AppliedEventIDs: []string{}}
		for _, ev := range events {
			if _, err := orderstatus.Apply(&s, ev); err != nil {
				encErr = err
			}
		}
		payload, err := serde.Encode(s)
		if err != nil || encErr != nil {
			producer.AsyncClose()
			<-acked
			return nil, fmt.Errorf("table: order %d: %w", i, errors.Join(err, encErr))
		}
		producer.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(s.OrderID), Value: sarama.ByteEncoder(payload)}
		statuses[s.Status]++
		sent++
	}
	producer.AsyncClose()
	ack := <-acked
	if ack.err != nil {
		return nil, fmt.Errorf("table: produce: %w", ack.err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if ack.acked != sent {
		return nil, fmt.Errorf("table: %d records sent, %d acknowledged", sent, ack.acked)
	}
	return statuses, nil
}
