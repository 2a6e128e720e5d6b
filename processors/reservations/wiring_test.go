package reservations

import (
	"fmt"
	"testing"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

// Through goka's tester the state goes through the JSON table codec between messages.
func TestProcessorWiring(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.LogPoison("reservations")}))
	cmds := h.Track(proctest.Topology.SkuCommands())
	events := h.Track(proctest.Topology.InventoryEvents())
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "A", 1, "B", 2))
	h.Feed(proctest.Topology.SkuReplies(), "o-1", reply("A", true))
	h.Feed(proctest.Topology.SkuReplies(), "o-1", schemas.SkuReply{Meta: proctest.Meta("SkuReply", "o-1"), OrderID: "o-1", SKU: "B", Op: schemas.SkuOpHold, Granted: true})
	c := cmds.All()
	if len(c) != 2 || c[0].Key != "A" || c[1].Key != "B" {
		t.Fatalf("commands %v keyed %v", proctest.Types(c), c)
	}
	if got := fmt.Sprint(proctest.Types(events.All())); got != "[StockReserved]" {
		t.Errorf("inventory events %s", got)
	}
	if st := h.TT.TableValue(proctest.Topology.Table("reservations"), "o-1").(streams.Envelope[State]).State; st.Phase != Reserved {
		t.Errorf("phase %s", st.Phase)
	}
}

// Reservations reads every payment event for the rare decline: the others are passed over by
// their type header, not decoded (a payload it cannot read is not its to dead-letter), while a
// decline still releases.
func TestEventsItDoesNotActOnAreNotDecoded(t *testing.T) {
	serde := proctest.Serde(t)
	h := proctest.New(t, serde, Group(proctest.Topology, streams.Env{Serde: serde, Poison: streams.DeadLetter(proctest.Topology, "reservations")}))
	dlq := h.Track(streams.DLQTopic(proctest.Topology.PaymentEvents()))
	cmds := h.Track(proctest.Topology.SkuCommands())
	h.Feed(proctest.Topology.OrderEvents(), "o-1", proctest.Order("o-1", "c-1", "A", 1))
	h.Feed(proctest.Topology.SkuReplies(), "o-1", reply("A", true))
	h.FeedRaw(proctest.Topology.PaymentEvents(), "o-1", []byte("not avro"), goka.Headers{streams.HeaderEventType: []byte("PaymentAuthorized")})
	h.FeedRaw(proctest.Topology.PaymentEvents(), "o-1", []byte("not avro"), goka.Headers{streams.HeaderEventType: []byte("PaymentDeclined")})
	if dead := dlq.Raw(); len(dead) != 1 || string(dead[0].Headers[streams.HeaderEventType]) != "PaymentDeclined" {
		t.Fatalf("dead letters %+v: want only the undecodable decline", dead)
	}
	h.Feed(proctest.Topology.PaymentEvents(), "o-1", schemas.PaymentDeclined{Meta: proctest.Meta("PaymentDeclined", "o-1"), OrderID: "o-1"})
	if got := describe(eventsOf(cmds.All())); got != "[HOLD A×1 RELEASE A×1]" {
		t.Errorf("commands %s", got)
	}
}

func eventsOf(es []proctest.Emitted) []streams.Emit {
	out := make([]streams.Emit, len(es))
	for i, e := range es {
		out[i] = streams.Emit{Key: e.Key, Event: e.Event.(schemas.Event)}
	}
	return out
}
