// Package catalog is the one place that knows the assembled pipeline's processors: what each
// reads and writes (its streams.Spec, data), its goka graph (for a process that runs it), how to
// rebuild its table in bulk and how to compare two versions of it (for reprocess).
package catalog

import (
	"context"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/timers"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/processors/payments"
	"github.com/orderflow/orderflow/processors/reservations"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/processors/shipping"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Specs returns the Spec of every processor of topology t, in topology.Processors() order.
func Specs(t topology.Topology) []streams.Spec {
	return []streams.Spec{payments.Spec(t), reservations.Spec(t), inventory.Spec(t), shipping.Spec(t), orderstatus.Spec(t), returns.Spec(t)}
}

// Spec returns the Spec of processor in t.
func Spec(t topology.Topology, processor string) (streams.Spec, bool) {
	for _, s := range Specs(t) {
		if s.Processor == processor {
			return s, true
		}
	}
	return streams.Spec{}, false
}

// Inputs maps each processor's consumer group to its input topics (for lag measurement).
func Inputs(t topology.Topology) map[string][]string {
	out := map[string][]string{}
	for _, s := range Specs(t) {
		g := string(t.Group(s.Processor))
		for _, in := range s.Inputs {
			out[g] = append(out[g], string(in))
		}
	}
	return out
}

// Groups returns the group graph of every processor of topology t, by processor name.
func Groups(t topology.Topology, env streams.Env) map[string]*goka.GroupGraph {
	return map[string]*goka.GroupGraph{
		topology.GroupPayments:     payments.Group(t, env),
		topology.GroupReservations: reservations.Group(t, env),
		topology.GroupInventory:    inventory.Group(t, env),
		topology.GroupShipping:     shipping.Group(t, env),
		topology.GroupOrderStatus:  orderstatus.Group(t, env),
		topology.GroupReturns:      returns.Group(t, env),
	}
}

// Deadlines returns how to read the pending deadline of a processor's table value, for the
// processors that keep deadlines for the timers scheduler (processors/kernel/timers).
func Deadlines(processor string) (timers.PendingFunc, bool) {
	switch processor {
	case topology.GroupShipping: // orders' deadlines (shipping.Deadline)
		return shipping.PendingDeadline, true
	case topology.GroupReturns: // retries and return windows
		return returns.PendingDeadline, true
	}
	return nil, false
}

// Rebuild runs streams.Rebuild with the processor's decision and table codec. The durable
// processors' table values are envelopes (streams.Durable). c gives everything but the
// processor's own parts (table codec, decision).
func Rebuild(ctx context.Context, t topology.Topology, processor string, c streams.RebuildConfig[struct{}]) (int64, error) {
	switch processor {
	case topology.GroupOrderStatus:
		return streams.Rebuild(ctx, with(c, orderstatus.TableCodec(c.Serde), orderstatus.Decide(t)))
	case topology.GroupPayments:
		return streams.Rebuild(ctx, with(c, streams.StateCodec[payments.State, *payments.State]{}, streams.Durable(payments.Decide(t))))
	case topology.GroupReservations:
		return streams.Rebuild(ctx, with(c, streams.StateCodec[reservations.State, *reservations.State]{}, streams.Durable(reservations.Decide(t))))
	case topology.GroupInventory:
		return streams.Rebuild(ctx, with(c, inventory.TableCodec(), streams.Durable(inventory.Decide(t))))
	case topology.GroupShipping:
		return streams.Rebuild(ctx, with(c, shipping.TableCodec(), streams.Durable(shipping.Decide(t, shipping.Deadline()))))
	case topology.GroupReturns:
		return streams.Rebuild(ctx, with(c, returns.TableCodec(), streams.Durable(returns.Decide(t, returns.ConfigFromEnv()))))
	}
	return 0, fmt.Errorf("unknown processor %q", processor)
}

func with[S any](c streams.RebuildConfig[struct{}], table goka.Codec, decide streams.Decider[S]) streams.RebuildConfig[S] {
	return streams.RebuildConfig[S]{Brokers: c.Brokers, Group: c.Group, Inputs: c.Inputs, Table: c.Table, Codec: table,
		Serde: c.Serde, Decide: decide, StateDir: c.StateDir, Processed: c.Processed}
}

// ComparedTable is the codec two versions of processor's table are compared with: the group
// table's, except that order-status values are compared as the table serves them.
func ComparedTable(t topology.Topology, serde *codec.Serde, processor string) goka.Codec {
	table := Groups(t, streams.Env{Serde: serde})[processor].GroupTable().Codec()
	if processor == topology.GroupOrderStatus {
		return served{table}
	}
	return table
}

// served compares order-status values as the table serves them (orderstatus.Served): the record
// of emitted changes depends on the order inputs arrived in, which a rebuild does not reproduce.
type served struct{ goka.Codec }

func (c served) Decode(data []byte) (any, error) {
	v, err := c.Codec.Decode(data)
	if s, ok := v.(schemas.OrderStatus); ok {
		return orderstatus.Served(s), err
	}
	return v, err
}
