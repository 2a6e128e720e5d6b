package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The report states medians with their range, and ratios against the baselines of the same runs.
func TestReportMediansRangesAndRatios(t *testing.T) {
	dir := t.TempDir()
	m := func(perSecond float64) Measure {
		return Measure{Seconds: 1000 / perSecond, Events: 1000, PerSecond: perSecond}
	}
	writeJSON(t, filepath.Join(dir, "backlog.json"), BacklogResult{Orders: 10, Events: 1000,
		Reprocess:   []Measure{m(100), m(300), m(200)},
		PassThrough: []Measure{m(400), m(400), m(400)},
		NoOp:        []Measure{m(1000), m(2000), m(3000)},
		Restore:     []Restored{{Measure: m(50), Keys: 10}, {Measure: m(50), Keys: 10}, {Measure: m(50), Keys: 10}},
		RawRead:     []Measure{m(100), m(100), m(100)},
		RestoreKeys: 1000, LargeRestore: []Restored{{Measure: m(80), Keys: 1000}}, LargeRawRead: []Measure{m(100)}})
	lat := func(p50, p99 float64) Latency {
		return Latency{Count: 10, P50: p50, P99: p99, P999: p99, Max: p99,
			Distribution: []QuantilePoint{{50, p50}, {99, p99}, {99.9, p99}}}
	}
	step := Step{Rate: 50, Orders: 500, Freshness: lat(100, 400), CDCFloor: lat(50, 100), Pass: true,
		Lag:        []LagPoint{{0, 0}, {1, 10}, {2, 0}},
		CPUSeconds: map[string]float64{CompProcessors: 5, CompBroker: 2.5},
		Reads:      &Latency{P50: 0.02, P99: 0.4}, IdleReads: &Latency{P50: 0.02, P99: 0.1}}
	var pr PipelineResult
	pr.Config.Runs, pr.Config.StepSeconds, pr.Config.FixedRate = 1, 10, 1000
	pr.Capture = []Capture{{Orders: 100, CaptureRate: 1000, InsertRate: 1200}}
	pr.Searches = []Search{{Steps: []Step{step}, MaxSustainable: 100}}
	pr.Half = []Step{step}
	writeJSON(t, filepath.Join(dir, "pipeline.json"), pr)
	writeJSON(t, filepath.Join(dir, "settings.json"), []Setting{{"machine", "cores", "2"}})
	// an earlier release's results, for the before/after table
	before := pr
	before.Searches = []Search{{MaxSustainable: 10}}
	before.Capture = []Capture{{CaptureRate: 500}}
	writeJSON(t, filepath.Join(dir, "before", "pipeline.json"), before)
	// a soak whose CPU per order grows by a fifth
	later := step
	later.CPUSeconds = map[string]float64{CompProcessors: 6, CompBroker: 2.5}
	later.Freshness = lat(100, 600)
	writeJSON(t, filepath.Join(dir, "soak.json"), SoakResult{Rate: 80, Fraction: 0.8, MaxSustainable: 100, WindowSeconds: 60,
		Windows: []Step{step, step, later}})

	out := filepath.Join(dir, "BENCHMARKS.md")
	if err := Report(ReportConfig{ResultsDir: dir, Output: out, Command: "make bench"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	report := string(b)
	for _, want := range []string{
		"| **order-status join** (`orderflow reprocess`: decode, fold, record cache, Avro table write per key and flush, change events, offsets committed) | 200 (100–300)",
		"| maximum sustainable orders/s | 10 orders/s (**0.02×**) | 100 orders/s (**0.10×**) | Debezium-only capture |",
		"| reprocess of the order-status join | — | 200 events/s (**0.50×**) | pass-through group |",
		"One deployment, 80 orders/s (80% of the maximum, 100 orders/s)",
		"| processors CPU-s per 1000 orders | 10.00 | 12.00 | 1.20 |",
		"| freshness p99 ms | 400 | 600 | 1.50 |",
		"The join runs at **0.50 of the pass-through rate** and 0.100 of the no-op rate.",
		"| 1000 keys, one record each (synthetic) | **goka view, empty state** | 12.50 (12.50–12.50) | 80 (80–80) | 0 (0–0) MiB | 0.80 |",
		"| the table rebuilt by the join above: 10 keys, 1000 records | **goka view, empty state** | 20.00 (20.00–20.00) | 50 (50–50) | 0 (0–0) MiB | 0.50 |",
		"| **maximum sustainable through the pipeline** | 100 (100–100) | 0.10 |",
		"| 50% of maximum (50/s, 10 s) | 500 | 100 (100–100) / 400 (400–400)",
		"p99 while ingesting is **4.0× the idle p99**",
		"| orderflow processors | 10.00 (10.00–10.00) | 67% |",
		"| machine | cores | 2 |",
		"](latency.png)", "](lag.png)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, plot := range []string{"latency.png", "lag.png"} {
		if fi, err := os.Stat(filepath.Join(dir, plot)); err != nil || fi.Size() < 1000 {
			t.Errorf("plot %s: %v", plot, err)
		}
	}
}

func TestReportWithoutResultsSaysWhatToRun(t *testing.T) {
	err := Report(ReportConfig{ResultsDir: t.TempDir(), Output: filepath.Join(t.TempDir(), "B.md")})
	if err == nil || !strings.Contains(err.Error(), "orderflow-bench backlog") {
		t.Fatalf("err = %v", err)
	}
}
