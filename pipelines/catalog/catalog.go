// Package catalog lists the assembled pipeline's processors: what each reads and writes (its
// streams.Spec, data) and its goka graph (for a process that runs it).
package catalog

import (
	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/inventory"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orderstatus"
	"github.com/orderflow/orderflow/processors/payments"
	"github.com/orderflow/orderflow/processors/reservations"
	"github.com/orderflow/orderflow/processors/shipping"
)

// Specs returns the Spec of every processor of topology t, in topology.Processors() order.
func Specs(t topology.Topology) []streams.Spec {
	return []streams.Spec{payments.Spec(t), reservations.Spec(t), inventory.Spec(t), shipping.Spec(t), orderstatus.Spec(t)}
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
	}
}
