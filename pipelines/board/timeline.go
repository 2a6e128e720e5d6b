package board

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/schemas"
)

// MaxScannedPerPartition caps the records a timeline reads on one partition; beyond it the
// answer says "truncated": true.
const MaxScannedPerPartition = 200_000

// timelineLookback is how long before the order was placed the scan starts: the clocks of the
// API, PostgreSQL and the brokers differ a little.
const timelineLookback = time.Minute

var orderIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

type handledJSON struct {
	Group   string `json:"group"`
	Handled bool   `json:"handled"`
}

type eventJSON struct {
	Topic     string        `json:"topic"`
	Partition int32         `json:"partition"`
	Offset    int64         `json:"offset"`
	Time      time.Time     `json:"time"`
	Type      string        `json:"type"`
	EventID   string        `json:"event_id"`
	HandledBy []handledJSON `json:"handled_by"`
}

type timelineJSON struct {
	OrderID    string         `json:"order_id"`
	Status     schemas.Status `json:"status"`
	WaitingFor string         `json:"waiting_for"`
	Events     []eventJSON    `json:"events"`
	Truncated  bool           `json:"truncated"`
}

// timeline answers GET /ops/orders/{id}/timeline: the order's records on the pipeline's event
// topics, oldest first, each with the consumer groups that read its topic and whether their
// committed offset is past it, and what the order waits for. 404 for an order the status view
// does not know.
func (b *Board) timeline(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !orderIDRe.MatchString(id) {
		writeError(w, http.StatusBadRequest, "malformed order id")
		return
	}
	v := b.readyViews(w, r)
	if v == nil {
		return
	}
	st, found, err := v.Status(id)
	if err != nil {
		unavailable(w, r, "status view unavailable", err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "unknown order id "+id)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timelineTimeout)
	defer cancel()
	tl, err := b.readTimeline(ctx, st)
	if err != nil {
		unavailable(w, r, "could not read the order's events from Kafka", err)
		return
	}
	writeJSON(w, http.StatusOK, tl)
}

// timelineTopics are the event topics keyed by order id (the stock topics are keyed by SKU).
func (b *Board) timelineTopics() []string {
	t := b.cfg.Topology
	var out []string
	for _, s := range t.Streams() {
		if s == t.StockEvents() || s == t.SkuCommands() {
			continue
		}
		out = append(out, string(s))
	}
	return out
}

// scanStart is where the order's records can begin: a minute before it was placed (zero, the
// start of each partition, when the view does not know when).
func scanStart(st schemas.OrderStatus) time.Time {
	if st.PlacedAt != nil {
		return st.PlacedAt.Add(-timelineLookback)
	}
	if len(st.History) > 0 {
		return st.History[0].At.Add(-timelineLookback)
	}
	return time.Time{}
}

func (b *Board) readTimeline(ctx context.Context, st schemas.OrderStatus) (timelineJSON, error) {
	topics := b.timelineTopics()
	since := scanStart(st)
	scans := make([]keyScan, len(topics))
	found := make([]bool, len(topics))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, topic := range topics {
		g.Go(func() error {
			scan, err := b.cluster.scanKey(gctx, topic, st.OrderID, since, MaxScannedPerPartition)
			if errors.Is(err, errUnknownTopic) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("scanning %s for %s: %w", topic, st.OrderID, err)
			}
			scans[i], found[i] = scan, true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return timelineJSON{}, err
	}

	// the committed offsets of the groups reading the partitions the order's records are on
	wanted := map[string]map[string][]int32{} // group → topic → partition
	for i, topic := range topics {
		if !found[i] || len(scans[i].records) == 0 {
			continue
		}
		for _, group := range b.groupsByTopic[topic] {
			if wanted[group] == nil {
				wanted[group] = map[string][]int32{}
			}
			wanted[group][topic] = []int32{scans[i].partition}
		}
	}
	committed := map[string]map[string]map[int32]int64{}
	for _, group := range sortedKeys(wanted) {
		offsets, err := b.cluster.committed(ctx, group, wanted[group])
		if err != nil {
			return timelineJSON{}, err
		}
		committed[group] = offsets
	}

	out := timelineJSON{OrderID: st.OrderID, Status: st.Status, WaitingFor: waitingFor(st), Events: []eventJSON{}}
	for i, topic := range topics {
		if !found[i] {
			continue
		}
		scan := scans[i]
		out.Truncated = out.Truncated || scan.truncated
		for _, rec := range scan.records {
			ev := eventJSON{Topic: topic, Partition: scan.partition, Offset: rec.offset, Time: rec.time,
				Type: rec.eventType, EventID: rec.eventID, HandledBy: []handledJSON{}}
			for _, group := range b.groupsByTopic[topic] {
				next, ok := committed[group][topic][scan.partition]
				ev.HandledBy = append(ev.HandledBy, handledJSON{Group: group, Handled: ok && next > rec.offset})
			}
			out.Events = append(out.Events, ev)
		}
	}
	slices.SortStableFunc(out.Events, func(a, b eventJSON) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	return out, nil
}

// waitingFor says what an order waits for next, for people: "" once it is terminal.
func waitingFor(st schemas.OrderStatus) string {
	if st.Status.Terminal() {
		return ""
	}
	reached := func(step schemas.Status, at *time.Time) bool {
		return st.Status == step || at != nil || slices.ContainsFunc(st.History, func(h schemas.StatusEntry) bool { return h.Status == step })
	}
	authorized := reached(schemas.StatusPaymentAuthorized, st.PaymentAuthorizedAt)
	reserved := reached(schemas.StatusInventoryReserved, st.InventoryReservedAt)
	switch {
	case !reached(schemas.StatusPlaced, st.PlacedAt):
		return "order-status: the OrderPlaced event"
	case authorized && reserved:
		return "shipping: the shipment"
	case authorized:
		return "inventory: the reservation"
	case reserved:
		return "payments: the authorization"
	}
	return "payments: the authorization; inventory: the reservation"
}
