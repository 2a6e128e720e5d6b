package bench

import (
	"fmt"
	"path/filepath"
)

// headline is one figure of the report with the baseline it is set against in the same run.
type headline struct {
	name, unit       string
	value, baseline  float64
	baselineName     string
	lowerIsBetter    bool
	noBaselineNeeded bool // the figure is absolute (CPU seconds)
}

// headlines derives the figures the performance targets are stated in from one set of results.
func headlines(b *BacklogResult, p *PipelineResult) []headline {
	var out []headline
	if p != nil && len(p.Searches) > 0 && len(p.Capture) > 0 {
		out = append(out, headline{name: "maximum sustainable orders/s", unit: "orders/s",
			value:    spreadOf(collect(p.Searches, func(s Search) float64 { return s.MaxSustainable })).median,
			baseline: spreadOf(collect(p.Capture, func(c Capture) float64 { return c.CaptureRate })).median, baselineName: "Debezium-only capture"})
	}
	if p != nil && len(p.Half) > 0 {
		for _, c := range []string{CompProcessors, CompBroker} {
			out = append(out, headline{name: "CPU per 1000 orders at 50% of max, " + c, unit: "CPU-s", lowerIsBetter: true, noBaselineNeeded: true,
				value: spreadOf(collect(p.Half, func(s Step) float64 { return s.CPUSeconds[c] / float64(max(1, s.Orders)) * 1000 })).median})
		}
		out = append(out, headline{name: "freshness p99 at 50% of max", unit: "ms", lowerIsBetter: true,
			value:    spreadOf(collect(p.Half, func(s Step) float64 { return s.Freshness.P99 })).median,
			baseline: spreadOf(collect(p.Half, func(s Step) float64 { return s.CDCFloor.P99 })).median, baselineName: "CDC floor p99"})
	}
	if b != nil && len(b.Reprocess) > 0 {
		out = append(out, headline{name: "reprocess of the order-status join", unit: "events/s",
			value:    spreadOf(collect(b.Reprocess, func(m Measure) float64 { return m.PerSecond })).median,
			baseline: spreadOf(collect(b.PassThrough, func(m Measure) float64 { return m.PerSecond })).median, baselineName: "pass-through group"})
	}
	if b != nil && len(b.LargeRestore) > 0 {
		out = append(out, headline{name: fmt.Sprintf("restore of a %d-key table", b.RestoreKeys), unit: "records/s",
			value:    spreadOf(collect(b.LargeRestore, func(r Restored) float64 { return r.PerSecond })).median,
			baseline: spreadOf(collect(b.LargeRawRead, func(m Measure) float64 { return m.PerSecond })).median, baselineName: "raw read of the changelog"})
	}
	return out
}

// writeBeforeAfter writes the headline figures of the results in dir/before (an earlier
// release's run of the same benchmarks) next to this run's. Ratios are each run's own: a figure
// over the baseline measured in that same run.
func writeBeforeAfter(w func(string, ...any), dir string, after []headline) {
	var b BacklogResult
	var p PipelineResult
	hb := readJSON(filepath.Join(dir, "before", "backlog.json"), &b) == nil
	hp := readJSON(filepath.Join(dir, "before", "pipeline.json"), &p) == nil
	if !hb && !hp {
		return
	}
	var bp *BacklogResult
	var pp *PipelineResult
	if hb {
		bp = &b
	}
	if hp {
		pp = &p
	}
	before := map[string]headline{}
	for _, h := range headlines(bp, pp) {
		before[h.name] = h
	}
	w("## Before and after\n\n")
	w("Before: the results of the previous release in `%s` (same benchmarks, same machine class); after: this run. Every ratio is to the baseline measured in its own run.\n\n", filepath.ToSlash(filepath.Join(dir, "before")))
	w("| figure | before | after | baseline |\n|---|---|---|---|\n")
	cell := func(h headline) string {
		v := fmt.Sprintf("%.2f %s", h.value, h.unit)
		if h.value >= 10 {
			v = fmt.Sprintf("%.0f %s", h.value, h.unit)
		}
		if h.noBaselineNeeded || h.baseline == 0 {
			return v
		}
		return fmt.Sprintf("%s (**%.2f×**)", v, h.value/h.baseline)
	}
	for _, a := range after {
		bf, ok := before[a.name]
		bc := "—"
		if ok {
			bc = cell(bf)
		}
		base := "—"
		if a.baselineName != "" {
			base = a.baselineName
		}
		w("| %s | %s | %s | %s |\n", a.name, bc, cell(a), base)
	}
	w("\n")
}

// writeSoak writes the soak: its first and last windows side by side, then every window.
func writeSoak(w func(string, ...any), s SoakResult) {
	if len(s.Windows) == 0 {
		return
	}
	w("## 7. Soak: flat with history\n\n")
	rate := fmt.Sprintf("%.0f orders/s", s.Rate)
	if s.Fraction > 0 {
		rate += fmt.Sprintf(" (%.0f%% of the maximum, %.0f orders/s)", 100*s.Fraction, s.MaxSustainable)
	}
	w("One deployment, %s of the demo mix (its hot SKUs included) for %d windows of %.0f s back to back (%.1f min in all); each window must bring every order to a terminal status. The first window is set against the last:\n\n",
		rate, len(s.Windows), s.WindowSeconds, float64(len(s.Windows))*s.WindowSeconds/60)
	first, last := s.Windows[0], s.Windows[len(s.Windows)-1]
	w("| | first window | last window | last / first |\n|---|---|---|---|\n")
	row := func(name, format string, f func(Step) float64) {
		a, b := f(first), f(last)
		ratio := "—"
		if a != 0 {
			ratio = fmt.Sprintf("%.2f", b/a)
		}
		w("| %s | "+format+" | "+format+" | %s |\n", name, a, b, ratio)
	}
	row("orders/s offered", "%.0f", func(st Step) float64 { return st.Offered })
	row("freshness p50 ms", "%.0f", func(st Step) float64 { return st.Freshness.P50 })
	row("freshness p99 ms", "%.0f", func(st Step) float64 { return st.Freshness.P99 })
	row("peak lag (messages)", "%.0f", func(st Step) float64 { return float64(st.PeakLag) })
	row("processors CPU-s per 1000 orders", "%.2f", func(st Step) float64 { return perThousand(st, CompProcessors) })
	row("broker CPU-s per 1000 orders", "%.2f", func(st Step) float64 { return perThousand(st, CompBroker) })
	w("\n| window | offered/s | freshness p50 / p99 ms | peak lag | processors / broker CPU-s per 1000 | sustained |\n|---|---|---|---|---|---|\n")
	for i, st := range s.Windows {
		w("| %d | %.0f | %.0f / %.0f | %d | %.2f / %.2f | %v |\n", i+1, st.Offered, st.Freshness.P50, st.Freshness.P99, st.PeakLag,
			perThousand(st, CompProcessors), perThousand(st, CompBroker), st.Pass)
	}
	w("\n")
}
