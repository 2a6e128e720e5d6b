package streams

import (
	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// Spec declares a processor as data: its name and the topics it reads and writes. Lag
// measurement, reprocessing and tools read Specs; only a running process builds goka graphs.
type Spec struct {
	Processor string        // topology.Group*: group <prefix>.<processor>[.<version>]
	Inputs    []goka.Stream // co-partitioned, in the order the group reads them
	Outputs   []goka.Stream // live names; in a shadow topology the group writes topology.Out of each
}

// Define is DefineGroup for spec.
func Define(t topology.Topology, spec Spec, table goka.Codec, cb goka.ProcessCallback) *goka.GroupGraph {
	return DefineGroup(t, spec.Processor, table, cb, spec.Inputs, spec.Outputs...)
}

// Writes lists every topic the group of spec writes in t: its outputs (a shadow version's private
// copies) and the dead-letter topic of each input, as DefineGroup declares them.
func (s Spec) Writes(t topology.Topology) []goka.Stream {
	out := make([]goka.Stream, 0, len(s.Outputs)+len(s.Inputs))
	for _, o := range s.Outputs {
		out = append(out, t.Out(s.Processor, o))
	}
	for _, in := range s.Inputs {
		out = append(out, t.DLQ(s.Processor, in))
	}
	return out
}
