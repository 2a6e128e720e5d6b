// Package topology names orderflow's topics and consumer groups and creates the topics.
//
// Every topic that processors join on is co-partitioned: one partition count for all (default
// 6), keys placed by murmur2 whoever writes them (Debezium's Java producer or a Go processor).
// Group tables are compacted. A Topology carries a prefix ("orderflow" in production) so that
// tests and blue/green deployments get topics and groups of their own.
package topology

import (
	"fmt"
	"regexp"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/kafka"
)

// DefaultPrefix names the production topics (orderflow.order.events, …).
const DefaultPrefix = "orderflow"

// DefaultPartitions is the partition count of every co-partitioned topic.
const DefaultPartitions = 6

// Aggregate types written to the outbox; Debezium routes them to <prefix>.<type>.events.
const (
	AggregateOrder = "order"
	AggregateStock = "stock"
)

// Processor groups.
const (
	GroupPayments     = "payments"
	GroupReservations = "reservations"
	GroupInventory    = "inventory"
	GroupShipping     = "shipping"
	GroupOrderStatus  = "order-status"
)

var validPrefix = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,100}$`)

// Topology is the set of topic and group names of one deployment.
type Topology struct {
	Prefix     string
	Partitions int32
	// TableSuffix selects a version of the processors' group tables (blue/green reprocessing):
	// group "order-status" with suffix "v2" becomes "<prefix>.order-status.v2".
	GroupSuffix string
}

// New returns the topology for prefix with the default partition count.
func New(prefix string) (Topology, error) {
	if !validPrefix.MatchString(prefix) {
		return Topology{}, fmt.Errorf("topology: invalid prefix %q", prefix)
	}
	return Topology{Prefix: prefix, Partitions: DefaultPartitions}, nil
}

// Default is the production topology.
func Default() Topology { return Topology{Prefix: DefaultPrefix, Partitions: DefaultPartitions} }

func (t Topology) name(s string) goka.Stream { return goka.Stream(t.Prefix + "." + s) }

// OrderEvents carries OrderPlaced (Debezium, key order id).
func (t Topology) OrderEvents() goka.Stream { return t.name(AggregateOrder + ".events") }

// StockEvents carries StockAdjusted (Debezium, key SKU).
func (t Topology) StockEvents() goka.Stream { return t.name(AggregateStock + ".events") }

// PaymentEvents carries PaymentAuthorized/Declined/Refunded (payments, key order id).
func (t Topology) PaymentEvents() goka.Stream { return t.name("payment.events") }

// InventoryEvents carries StockReserved/Rejected/Released (reservations, key order id).
func (t Topology) InventoryEvents() goka.Stream { return t.name("inventory.events") }

// SkuCommands carries SkuCommand (reservations → inventory, key SKU).
func (t Topology) SkuCommands() goka.Stream { return t.name("inventory.sku-commands") }

// SkuReplies carries SkuReply (inventory → reservations, key order id).
func (t Topology) SkuReplies() goka.Stream { return t.name("inventory.sku-replies") }

// ShippingEvents carries ShipmentCreated (shipping, key order id).
func (t Topology) ShippingEvents() goka.Stream { return t.name("shipping.events") }

// StatusChanges carries OrderStatusChanged (order-status, key order id). A table version
// (GroupSuffix) writes its changes to a topic of its own, so reprocessing history into a new
// version does not replay old changes to the live topic's consumers.
func (t Topology) StatusChanges() goka.Stream {
	if t.GroupSuffix != "" {
		return t.name("order-status.changes." + t.GroupSuffix)
	}
	return t.name("order-status.changes")
}

// Group returns the consumer group of a processor (its table is Group + "-table").
func (t Topology) Group(processor string) goka.Group {
	g := t.Prefix + "." + processor
	if t.GroupSuffix != "" {
		g += "." + t.GroupSuffix
	}
	return goka.Group(g)
}

// Table returns the group table of a processor.
func (t Topology) Table(processor string) goka.Table { return goka.GroupTable(t.Group(processor)) }

// Streams lists every event topic (co-partitioned, not compacted).
func (t Topology) Streams() []goka.Stream {
	return []goka.Stream{t.OrderEvents(), t.StockEvents(), t.PaymentEvents(), t.InventoryEvents(),
		t.SkuCommands(), t.SkuReplies(), t.ShippingEvents(), t.StatusChanges()}
}

// DLQSuffix names a stream's dead-letter topic (<stream>.dlq).
const DLQSuffix = ".dlq"

// DeadLetterTopics lists the dead-letter topic of every stream.
func (t Topology) DeadLetterTopics() []goka.Stream {
	var out []goka.Stream
	for _, s := range t.Streams() {
		out = append(out, s+DLQSuffix)
	}
	return out
}

// Processors lists the processor names.
func Processors() []string {
	return []string{GroupPayments, GroupReservations, GroupInventory, GroupShipping, GroupOrderStatus}
}

// Topics returns every topic the deployment needs: the event streams and the processors'
// compacted group tables. Creating the tables up front (rather than letting goka do it) keeps
// their partition count and cleanup policy under our control.
func (t Topology) Topics() []kafka.Topic {
	var out []kafka.Topic
	for _, s := range t.Streams() {
		out = append(out, kafka.Topic{Name: string(s), Partitions: t.Partitions})
	}
	for _, s := range t.Streams() {
		out = append(out, kafka.Topic{Name: string(s) + DLQSuffix, Partitions: t.Partitions})
	}
	for _, p := range Processors() {
		out = append(out, kafka.Topic{Name: string(t.Table(p)), Partitions: t.Partitions, Compacted: true})
	}
	return out
}

// Apply creates the deployment's topics (idempotent; an existing topic with another partition
// count is an error, since co-partitioning would break).
func (t Topology) Apply(brokers []string) error {
	admin, err := kafka.NewAdmin(brokers)
	if err != nil {
		return err
	}
	defer admin.Close()
	return kafka.EnsureTopics(admin, t.Topics())
}
