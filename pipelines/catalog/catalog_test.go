package catalog_test

import (
	"slices"
	"testing"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// TestSpecsMatchGraphs: what a Spec declares is what the processor's goka graph reads and
// writes, in the live topology and in a shadow version of each processor.
func TestSpecsMatchGraphs(t *testing.T) {
	live := topology.Default()
	tops := []topology.Topology{live}
	for _, p := range topology.Processors() {
		s := live.WithVersion(p, "v2")
		s.Shadow = true
		tops = append(tops, s)
	}
	for _, top := range tops {
		if got := len(catalog.Specs(top)); got != len(topology.Processors()) {
			t.Fatalf("%d specs for %d processors", got, len(topology.Processors()))
		}
		graphs := catalog.Groups(top, streams.Env{})
		for _, s := range catalog.Specs(top) {
			g := graphs[s.Processor]
			if g == nil || g.Group() != top.Group(s.Processor) {
				t.Fatalf("%s: no graph of group %s", s.Processor, top.Group(s.Processor))
			}
			if got, want := topics(g.InputStreams()), streamNames(s.Inputs); !slices.Equal(got, want) {
				t.Errorf("%s inputs: spec %v, graph %v", s.Processor, want, got)
			}
			got, want := topics(g.OutputStreams()), streamNames(s.Writes(top))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s outputs (shadow=%v): spec %v, graph %v", s.Processor, top.Shadow, want, got)
			}
		}
	}
}

func topics(edges goka.Edges) []string {
	var out []string
	for _, e := range edges {
		out = append(out, e.Topic())
	}
	return out
}

func streamNames(ss []goka.Stream) []string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s))
	}
	return out
}
