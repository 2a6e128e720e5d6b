package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// SoakConfig configures the soak: one long-running deployment under a steady load of the demo
// mix (hot SKUs included), measured window by window, to show whether rate, freshness and CPU
// per order stay flat as history grows.
type SoakConfig struct {
	Endpoints endpoints.Endpoints
	Binary    string        // the orderflow binary that runs the processors (required)
	Rate      float64       // orders/s; 0: Fraction of the maximum in OutDir/pipeline.json
	Fraction  float64       // default 0.8
	Duration  time.Duration // default 20m
	Window    time.Duration // one measured step each (default 1m)
	OutDir    string
	Log       io.Writer
}

// SoakResult is every window of one soak, in order.
type SoakResult struct {
	Rate           float64 `json:"rate"`
	Fraction       float64 `json:"fraction,omitempty"`        // of MaxSustainable, when the rate came from it
	MaxSustainable float64 `json:"max_sustainable,omitempty"` // median of pipeline.json's searches
	WindowSeconds  float64 `json:"window_seconds"`
	Windows        []Step  `json:"windows"`
}

// Soak runs cfg.Duration of load at a steady rate on one fresh deployment, as back-to-back
// windows (each a Step: every order must come out terminal, freshness from intended send time,
// CPU per component over the window and its drain).
func Soak(ctx context.Context, cfg SoakConfig) (SoakResult, error) {
	if cfg.Binary == "" {
		return SoakResult{}, errors.New("bench: no orderflow binary to run the processors (--orderflow, env ORDERFLOW_BIN)")
	}
	cfg.Fraction = cmpOr(cfg.Fraction, 0.8)
	cfg.Duration = cmpOr(cfg.Duration, 20*time.Minute)
	cfg.Window = cmpOr(cfg.Window, time.Minute)
	cfg.OutDir = cmpOr(cfg.OutDir, "bench-results")
	res := SoakResult{Rate: cfg.Rate, WindowSeconds: cfg.Window.Seconds()}
	if res.Rate == 0 {
		var pipe PipelineResult
		if err := readJSON(filepath.Join(cfg.OutDir, "pipeline.json"), &pipe); err != nil || len(pipe.Searches) == 0 {
			return res, fmt.Errorf("soak: no rate given and no maximum in %s/pipeline.json (run `orderflow-bench pipeline` first): %v", cfg.OutDir, err)
		}
		res.MaxSustainable = spreadOf(collect(pipe.Searches, func(s Search) float64 { return s.MaxSustainable })).median
		res.Fraction = cfg.Fraction
		res.Rate = res.MaxSustainable * cfg.Fraction
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, time.Now().Format("15:04:05 ")+"soak: "+format+"\n", args...)
		}
	}

	env, err := newPipelineEnv(ctx, cfg.Endpoints, cfg.Binary)
	if err != nil {
		return res, err
	}
	defer env.close()
	tr, err := startTracker(cfg.Endpoints.Brokers, env.Serde, string(env.Topology.OrderEvents()), string(env.Topology.Table(topology.GroupOrderStatus)))
	if err != nil {
		return res, err
	}
	defer tr.close()
	meter, err := lag.NewMeter(cfg.Endpoints.Brokers)
	if err != nil {
		return res, err
	}
	defer meter.Close()
	s := &stepRun{env: env, tr: tr, meter: meter}
	if err := env.seedStock(ctx, 1_000_000); err != nil {
		return res, err
	}
	if err := env.startProcessors(ctx, filepath.Join(cfg.OutDir, "logs", "soak")); err != nil {
		return res, err
	}
	s.procPid = env.procs.Process.Pid
	windows := max(1, int(cfg.Duration/cfg.Window))
	logf("%.0f orders/s for %d windows of %s on one deployment", res.Rate, windows, cfg.Window)
	for i := 1; i <= windows; i++ {
		st, err := s.run(ctx, res.Rate, cfg.Window, 15*time.Second)
		if err != nil {
			return res, fmt.Errorf("soak window %d: %w", i, err)
		}
		st.Lag = nil // the peak is kept; the series would make the file large
		res.Windows = append(res.Windows, st)
		logf("window %2d: offered %.0f/s, freshness p50 %.0f p99 %.0f ms, peak lag %d, processors %.2f broker %.2f CPU-s per 1000 orders → %v",
			i, st.Offered, st.Freshness.P50, st.Freshness.P99, st.PeakLag,
			perThousand(st, "orderflow processors"), perThousand(st, "kafka broker"), passWord(st.Pass))
	}
	return res, nil
}

// perThousand is the CPU seconds of a component per 1000 orders of a step.
func perThousand(st Step, component string) float64 {
	if st.Orders == 0 {
		return 0
	}
	return st.CPUSeconds[component] / float64(st.Orders) * 1000
}
