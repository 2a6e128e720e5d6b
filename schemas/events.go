package schemas

import "time"

// Event is implemented by every event type: it names its Avro record.
type Event interface {
	AvroName() string
	Metadata() Metadata
}

// Metadata is the envelope every event carries.
type Metadata struct {
	EventID       string    `avro:"event_id"`
	EventType     string    `avro:"event_type"`
	OccurredAt    time.Time `avro:"occurred_at"`
	OrderID       *string   `avro:"order_id"`
	CorrelationID string    `avro:"correlation_id"`
	CausationID   *string   `avro:"causation_id"`
}

// OrderLine is one line of an order.
type OrderLine struct {
	SKU            string `avro:"sku"`
	Quantity       int32  `avro:"quantity"`
	UnitPriceMinor int64  `avro:"unit_price_minor"`
}

// OrderPlaced: an order was accepted (emitted by the order API through the outbox).
type OrderPlaced struct {
	Meta       Metadata     `avro:"metadata"`
	OrderID    string       `avro:"order_id"`
	CustomerID string       `avro:"customer_id"`
	Currency   string       `avro:"currency"`
	Lines      []OrderLine  `avro:"lines"`
	TotalMinor int64        `avro:"total_minor"`
	PlacedAt   time.Time    `avro:"placed_at"`
	Channel    SalesChannel `avro:"sales_channel"` // v2; v1 events read as ChannelUnknown
	// Personal data (v3; nil when not given, and in v1/v2 events): each is sealed by
	// internal/pii ("pii1.…") with the customer's data key, never plaintext, so erasing the
	// customer's keys (CustomerErased) leaves it unreadable wherever the event is kept.
	CustomerName    *string `avro:"customer_name"`
	CustomerEmail   *string `avro:"customer_email"`
	ShippingAddress *string `avro:"shipping_address"`
}

// SalesChannel says where an order was placed.
type SalesChannel string

// Sales channels; ChannelUnknown is the schema's default symbol.
const (
	ChannelUnknown SalesChannel = "UNKNOWN"
	ChannelWeb     SalesChannel = "WEB"
	ChannelAPI     SalesChannel = "API"
	ChannelStore   SalesChannel = "STORE"
)

// PaymentAuthorized: the payment of an order was authorized (payments).
type PaymentAuthorized struct {
	Meta        Metadata `avro:"metadata"`
	OrderID     string   `avro:"order_id"`
	AmountMinor int64    `avro:"amount_minor"`
	Currency    string   `avro:"currency"`
}

// DeclineReason says why a payment was declined.
type DeclineReason string

// Decline reasons; DeclineUnknown is the schema's default symbol.
const (
	DeclineUnknown         DeclineReason = "UNKNOWN"
	DeclineAmountOverLimit DeclineReason = "AMOUNT_OVER_LIMIT"
	DeclineCustomerDenied  DeclineReason = "CUSTOMER_DENIED"
)

// PaymentDeclined: the payment of an order was declined (payments).
type PaymentDeclined struct {
	Meta        Metadata      `avro:"metadata"`
	OrderID     string        `avro:"order_id"`
	AmountMinor int64         `avro:"amount_minor"`
	Currency    string        `avro:"currency"`
	Reason      DeclineReason `avro:"reason"`
	Detail      string        `avro:"detail"`
}

// PaymentRefunded: an authorized payment was refunded (payments).
type PaymentRefunded struct {
	Meta        Metadata `avro:"metadata"`
	OrderID     string   `avro:"order_id"`
	AmountMinor int64    `avro:"amount_minor"`
	Currency    string   `avro:"currency"`
	Reason      string   `avro:"reason"`
}

// StockAdjusted: the available stock of a SKU was set (inventory API, keyed by SKU).
type StockAdjusted struct {
	Meta      Metadata `avro:"metadata"`
	SKU       string   `avro:"sku"`
	Available int64    `avro:"available"`
	Version   int64    `avro:"version"` // per-SKU sequence of settings; 0 before versions existed
}

// StockLine is a quantity of one SKU.
type StockLine struct {
	SKU      string `avro:"sku"`
	Quantity int32  `avro:"quantity"`
}

// StockReserved: all lines of an order were reserved (inventory).
type StockReserved struct {
	Meta    Metadata    `avro:"metadata"`
	OrderID string      `avro:"order_id"`
	Lines   []StockLine `avro:"lines"`
}

// ShortLine is a line that could not be reserved.
type ShortLine struct {
	SKU       string `avro:"sku"`
	Requested int32  `avro:"requested"`
	Available int64  `avro:"available"`
}

// StockRejected: an order could not be reserved; nothing was reserved (inventory).
type StockRejected struct {
	Meta       Metadata    `avro:"metadata"`
	OrderID    string      `avro:"order_id"`
	ShortLines []ShortLine `avro:"short_lines"`
}

// StockReleased: an order's reservation returned to stock (inventory).
type StockReleased struct {
	Meta    Metadata    `avro:"metadata"`
	OrderID string      `avro:"order_id"`
	Lines   []StockLine `avro:"lines"`
	Reason  string      `avro:"reason"`
}

// ShipmentCreated: a shipment was created (shipping).
type ShipmentCreated struct {
	Meta       Metadata  `avro:"metadata"`
	OrderID    string    `avro:"order_id"`
	ShipmentID string    `avro:"shipment_id"`
	CreatedAt  time.Time `avro:"created_at"`
}

// Status of an order.
type Status string

// Statuses; StatusUnknown is the schema's default symbol. SHIPPED and CANCELLED are terminal.
const (
	StatusUnknown           Status = "UNKNOWN"
	StatusPlaced            Status = "PLACED"
	StatusPaymentAuthorized Status = "PAYMENT_AUTHORIZED"
	StatusInventoryReserved Status = "INVENTORY_RESERVED"
	StatusShipped           Status = "SHIPPED"
	StatusCancelled         Status = "CANCELLED"
)

// Terminal reports whether no further transition can happen.
func (s Status) Terminal() bool { return s == StatusShipped || s == StatusCancelled }

// CancelReason says why an order was cancelled.
type CancelReason string

// Cancel reasons; CancelUnknown is the schema's default symbol.
const (
	CancelUnknown         CancelReason = "UNKNOWN"
	CancelPaymentDeclined CancelReason = "PAYMENT_DECLINED"
	CancelOutOfStock      CancelReason = "OUT_OF_STOCK"
	CancelTimeout         CancelReason = "TIMEOUT" // not terminal by its deadline (OrderTimedOut)
)

// StatusEntry is one step of an order's history.
type StatusEntry struct {
	Status Status    `avro:"status"`
	At     time.Time `avro:"at"`
}

// OrderStatus is the value of the order-status table (key: order id).
type OrderStatus struct {
	OrderID             string             `avro:"order_id"`
	Status              Status             `avro:"status"`
	Reason              *CancelReason      `avro:"reason"`
	CustomerID          string             `avro:"customer_id"`
	TotalMinor          int64              `avro:"total_minor"`
	Currency            string             `avro:"currency"`
	PlacedAt            *time.Time         `avro:"placed_at"`
	PaymentAuthorizedAt *time.Time         `avro:"payment_authorized_at"`
	InventoryReservedAt *time.Time         `avro:"inventory_reserved_at"`
	ShippedAt           *time.Time         `avro:"shipped_at"`
	CancelledAt         *time.Time         `avro:"cancelled_at"`
	Version             int64              `avro:"version"`
	History             []StatusEntry      `avro:"history"`
	AppliedEventIDs     []string           `avro:"applied_event_ids"`
	Changes             []StatusTransition `avro:"changes"`
}

// StatusTransition is one OrderStatusChanged the order-status table emitted, kept to emit it
// again, identical, when its cause is delivered again.
type StatusTransition struct {
	CauseEventID string        `avro:"cause_event_id"`
	FromStatus   Status        `avro:"from_status"`
	ToStatus     Status        `avro:"to_status"`
	Reason       *CancelReason `avro:"reason"`
	Version      int64         `avro:"version"`
	At           time.Time     `avro:"at"`
}

// OrderStatusChanged: the order-status table changed an order's status (order-status).
type OrderStatusChanged struct {
	Meta       Metadata      `avro:"metadata"`
	OrderID    string        `avro:"order_id"`
	FromStatus Status        `avro:"from_status"`
	ToStatus   Status        `avro:"to_status"`
	Reason     *CancelReason `avro:"reason"`
	Version    int64         `avro:"version"`
}

// TimerFired: a durable deadline fell due (timers scheduler → the deadline's owner, keyed by the
// owner's key). The owner acts only when Deadline is still the deadline in effect.
type TimerFired struct {
	Meta     Metadata  `avro:"metadata"`
	Key      string    `avro:"key"`
	Deadline time.Time `avro:"deadline"`
}

// OrderTimedOut: an order was not terminal by its deadline; it is cancelled with reason TIMEOUT
// and every step compensated (shipping, which alone rules between shipping it and timing it out).
type OrderTimedOut struct {
	Meta     Metadata  `avro:"metadata"`
	OrderID  string    `avro:"order_id"`
	PlacedAt time.Time `avro:"placed_at"`
	Deadline time.Time `avro:"deadline"`
}

func (TimerFired) AvroName() string        { return Namespace + ".TimerFired" }
func (OrderTimedOut) AvroName() string     { return Namespace + ".OrderTimedOut" }
func (e TimerFired) Metadata() Metadata    { return e.Meta }
func (e OrderTimedOut) Metadata() Metadata { return e.Meta }

func (OrderPlaced) AvroName() string        { return Namespace + ".OrderPlaced" }
func (PaymentAuthorized) AvroName() string  { return Namespace + ".PaymentAuthorized" }
func (PaymentDeclined) AvroName() string    { return Namespace + ".PaymentDeclined" }
func (PaymentRefunded) AvroName() string    { return Namespace + ".PaymentRefunded" }
func (StockAdjusted) AvroName() string      { return Namespace + ".StockAdjusted" }
func (StockReserved) AvroName() string      { return Namespace + ".StockReserved" }
func (StockRejected) AvroName() string      { return Namespace + ".StockRejected" }
func (StockReleased) AvroName() string      { return Namespace + ".StockReleased" }
func (ShipmentCreated) AvroName() string    { return Namespace + ".ShipmentCreated" }
func (OrderStatusChanged) AvroName() string { return Namespace + ".OrderStatusChanged" }

func (e OrderPlaced) Metadata() Metadata        { return e.Meta }
func (e PaymentAuthorized) Metadata() Metadata  { return e.Meta }
func (e PaymentDeclined) Metadata() Metadata    { return e.Meta }
func (e PaymentRefunded) Metadata() Metadata    { return e.Meta }
func (e StockAdjusted) Metadata() Metadata      { return e.Meta }
func (e StockReserved) Metadata() Metadata      { return e.Meta }
func (e StockRejected) Metadata() Metadata      { return e.Meta }
func (e StockReleased) Metadata() Metadata      { return e.Meta }
func (e ShipmentCreated) Metadata() Metadata    { return e.Meta }
func (e OrderStatusChanged) Metadata() Metadata { return e.Meta }

// AvroName of the table value (it is state, not an event, so it has no metadata).
func (OrderStatus) AvroName() string { return Namespace + ".OrderStatus" }

// SkuOp is what a SkuCommand asks of the stock ledger.
type SkuOp string

// Stock ledger operations; SkuOpUnknown is the schema's default symbol.
const (
	SkuOpUnknown SkuOp = "UNKNOWN"
	SkuOpHold    SkuOp = "HOLD"    // reserve quantity for the order if available
	SkuOpRelease SkuOp = "RELEASE" // return the order's held quantity
	SkuOpCommit  SkuOp = "COMMIT"  // the order shipped: the held quantity leaves stock
)

// SkuCommand: internal to inventory, keyed by SKU (reservations → inventory ledger).
type SkuCommand struct {
	Meta     Metadata `avro:"metadata"`
	SKU      string   `avro:"sku"`
	OrderID  string   `avro:"order_id"`
	Op       SkuOp    `avro:"op"`
	Quantity int32    `avro:"quantity"`
	HoldSeq  int64    `avro:"hold_seq"` // RELEASE/COMMIT: the hold they close (0: any hold of the order)
}

// SkuReply: internal to inventory, keyed by order id (inventory ledger → reservations).
type SkuReply struct {
	Meta      Metadata `avro:"metadata"`
	OrderID   string   `avro:"order_id"`
	SKU       string   `avro:"sku"`
	Op        SkuOp    `avro:"op"`
	Quantity  int32    `avro:"quantity"`
	Granted   bool     `avro:"granted"`
	Available int64    `avro:"available"`
	HoldSeq   int64    `avro:"hold_seq"` // a granted hold's number, increasing per SKU
}

func (SkuCommand) AvroName() string     { return Namespace + ".SkuCommand" }
func (SkuReply) AvroName() string       { return Namespace + ".SkuReply" }
func (e SkuCommand) Metadata() Metadata { return e.Meta }
func (e SkuReply) Metadata() Metadata   { return e.Meta }

// Types returns a zero value of every Go type with a shipped schema; codecs use it to map a
// writer's record name to the type to decode into.
func Types() []interface{ AvroName() string } {
	return append([]interface{ AvroName() string }{
		OrderPlaced{}, PaymentAuthorized{}, PaymentDeclined{}, PaymentRefunded{}, StockAdjusted{},
		StockReserved{}, StockRejected{}, StockReleased{}, ShipmentCreated{}, OrderStatusChanged{},
		SkuCommand{}, SkuReply{}, OrderStatus{}, TimerFired{}, OrderTimedOut{},
	}, append(returnTypes(), customerTypes()...)...)
}
