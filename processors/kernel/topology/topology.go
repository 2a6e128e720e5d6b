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

	"github.com/orderflow/orderflow/internal/kafka"
)

// DefaultPrefix names the production topics (orderflow.order.events, …).
const DefaultPrefix = "orderflow"

// DefaultPartitions is the partition count of every co-partitioned topic.
const DefaultPartitions = 6

// Aggregate types written to the outbox; Debezium routes them to <prefix>.<type>.events.
const (
	AggregateOrder = "order"
	AggregateStock = "stock"
	// AggregateReturn: return requests and receipts (the return API), keyed by order id.
	AggregateReturn = "return"
	// AggregateCustomer: customer-level facts (CustomerErased), keyed by customer id.
	AggregateCustomer = "customer"
)

// Processor groups.
const (
	GroupPayments     = "payments"
	GroupReservations = "reservations"
	GroupInventory    = "inventory"
	GroupShipping     = "shipping"
	GroupOrderStatus  = "order-status"
	GroupReturns      = "returns" // the returns orchestrator
)

var validPrefix = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,100}$`)

// Topology is the set of topic and group names of one deployment.
type Topology struct {
	Prefix     string
	Partitions int32
	// Versions names the table version each processor runs (blue/green reprocessing): processor
	// "order-status" at version "v2" has group "<prefix>.order-status.v2" and table
	// "<prefix>.order-status.v2-table". A processor missing here runs the unversioned group.
	// The serving versions are kept in the <prefix>.table-versions topic (see LoadVersions).
	Versions map[string]string
	// Shadow makes the processors write every emit and dead letter to topics private to their
	// version (see Out) instead of the live ones: a rebuild reads live history and never writes
	// to a live topic or table.
	Shadow bool
}

var validVersion = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,40}$`)

// Unversioned names the unversioned table version on the command line.
const Unversioned = "unversioned"

// ValidateVersion checks a table version name ("" is the unversioned one).
func ValidateVersion(v string) error {
	if v != "" && (!validVersion.MatchString(v) || v == Unversioned) {
		return fmt.Errorf("topology: invalid table version %q (letters, digits, _ and -)", v)
	}
	return nil
}

// Version returns the table version processor runs ("" for the unversioned one).
func (t Topology) Version(processor string) string { return t.Versions[processor] }

// WithVersion returns t with processor at version v (the maps are not shared).
func (t Topology) WithVersion(processor, v string) Topology {
	versions := make(map[string]string, len(t.Versions)+1)
	for p, ver := range t.Versions {
		versions[p] = ver
	}
	versions[processor] = v
	t.Versions = versions
	return t
}

// Out is the topic processor writes s to: s itself, or in a shadow topology the version's
// private copy "<s>.<processor>.<version>".
func (t Topology) Out(processor string, s goka.Stream) goka.Stream {
	if !t.Shadow {
		return s
	}
	v := t.Version(processor)
	if v == "" {
		v = Unversioned
	}
	return s + goka.Stream("."+processor+"."+v)
}

// DLQ is the dead-letter topic processor writes a poison input of topic in to: <in>.dlq, or its
// version's private copy in a shadow topology.
func (t Topology) DLQ(processor string, in goka.Stream) goka.Stream {
	return t.Out(processor, in+DLQSuffix)
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

// StatusChanges carries OrderStatusChanged (order-status, key order id).
func (t Topology) StatusChanges() goka.Stream { return t.name("order-status.changes") }

// DeadlineEvents carries OrderTimedOut (shipping, key order id).
func (t Topology) DeadlineEvents() goka.Stream { return t.name("deadline.events") }

// TimerFirings carries TimerFired (the timers scheduler → the deadline's owner, key the owner's
// key; today shipping's order id).
func (t Topology) TimerFirings() goka.Stream { return t.name("timers.fired") }

// ReturnEvents carries the return API's requests (ReturnRequested, ReturnReceived) from the outbox,
// keyed by order id.
func (t Topology) ReturnEvents() goka.Stream { return t.name(AggregateReturn + ".events") }

// CustomerEvents carries CustomerErased from the outbox, keyed by customer id.
func (t Topology) CustomerEvents() goka.Stream { return t.name(AggregateCustomer + ".events") }

// ReturnTasks carries the returns orchestrator's commands to shipping and payments, keyed by
// order id (its commands to the inventory ledger go on SkuCommands, keyed by SKU).
func (t Topology) ReturnTasks() goka.Stream { return t.name("returns.tasks") }

// ReturnReplies is the returns orchestrator's reply channel: the services' answers to its
// commands, keyed by order id.
func (t Topology) ReturnReplies() goka.Stream { return t.name("returns.replies") }

// ReturnTimers carries the returns orchestrator's TimerFired (retries and return windows).
func (t Topology) ReturnTimers() goka.Stream { return t.name("returns.timers") }

// Firings is where the timers scheduler of processor's table writes TimerFired.
func (t Topology) Firings(processor string) goka.Stream {
	if processor == GroupReturns {
		return t.ReturnTimers()
	}
	return t.TimerFirings()
}

// Contracts maps each event stream to the event types it carries (Avro record names without the
// namespace): a record of another type on a stream is poison, whatever it says about itself.
func (t Topology) Contracts() map[string][]string {
	return map[string][]string{
		string(t.OrderEvents()):     {"OrderPlaced"},
		string(t.StockEvents()):     {"StockAdjusted"},
		string(t.PaymentEvents()):   {"PaymentAuthorized", "PaymentDeclined", "PaymentRefunded"},
		string(t.InventoryEvents()): {"StockReserved", "StockRejected", "StockReleased"},
		string(t.SkuCommands()):     {"SkuCommand", "RestockReturn"},
		string(t.SkuReplies()):      {"SkuReply"},
		string(t.ShippingEvents()):  {"ShipmentCreated"},
		string(t.StatusChanges()):   {"OrderStatusChanged"},
		string(t.DeadlineEvents()):  {"OrderTimedOut"},
		string(t.TimerFirings()):    {"TimerFired"},
		string(t.ReturnEvents()):    {"ReturnRequested", "ReturnReceived"},
		string(t.ReturnTasks()):     {"IssueReturnLabel", "VoidReturnLabel", "RefundReturn"},
		string(t.ReturnReplies()):   {"ReturnLabelIssued", "ReturnLabelVoided", "ReturnRefunded", "ReturnRestocked"},
		string(t.ReturnTimers()):    {"TimerFired"},
		string(t.CustomerEvents()):  {"CustomerErased"},
	}
}

// Group returns the consumer group of a processor at its version (its table is Group + "-table").
func (t Topology) Group(processor string) goka.Group {
	g := t.Prefix + "." + processor
	if v := t.Version(processor); v != "" {
		g += "." + v
	}
	return goka.Group(g)
}

// Table returns the group table of a processor.
func (t Topology) Table(processor string) goka.Table { return goka.GroupTable(t.Group(processor)) }

// Streams lists every event topic (co-partitioned, not compacted).
func (t Topology) Streams() []goka.Stream {
	return []goka.Stream{t.OrderEvents(), t.StockEvents(), t.PaymentEvents(), t.InventoryEvents(),
		t.SkuCommands(), t.SkuReplies(), t.ShippingEvents(), t.StatusChanges(), t.DeadlineEvents(), t.TimerFirings(),
		t.ReturnEvents(), t.ReturnTasks(), t.ReturnReplies(), t.ReturnTimers(), t.CustomerEvents()}
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
	return []string{GroupPayments, GroupReservations, GroupInventory, GroupShipping, GroupOrderStatus, GroupReturns}
}

// Topics returns every topic the deployment needs: the event streams and the processors'
// compacted group tables. Creating the tables up front (rather than letting goka do it) keeps
// their partition count and cleanup policy under our control. Event streams and their
// dead-letter topics keep records for kafka.EventRetention (for ever unless configured):
// reprocessing replays streams from their first record, and a dead letter waits for replay.
func (t Topology) Topics() []kafka.Topic {
	var out []kafka.Topic
	retention := kafka.EventRetention()
	for _, s := range t.Streams() {
		out = append(out, kafka.Topic{Name: string(s), Partitions: t.Partitions, Retention: retention})
	}
	for _, s := range t.Streams() {
		out = append(out, kafka.Topic{Name: string(s) + DLQSuffix, Partitions: t.Partitions, Retention: retention})
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
