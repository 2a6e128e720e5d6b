package reservations

import (
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/pipelines/streams"
	"github.com/orderflow/orderflow/processors/proctest"
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
