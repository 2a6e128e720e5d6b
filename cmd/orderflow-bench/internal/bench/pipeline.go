package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// PipelineConfig configures the end-to-end benchmarks (throughput, freshness, view reads, CPU).
type PipelineConfig struct {
	Endpoints     endpoints.Endpoints
	Binary        string        // the orderflow binary that runs the processors (required)
	Step          time.Duration // length of each rate step (default 45s)
	Runs          int           // runs of every metric (default 3), each on a fresh deployment
	StartRate     float64       // first rate of the throughput search (orders/s, default 40)
	FixedRate     float64       // the fixed freshness rate (default 1000 orders/s)
	FixedStep     time.Duration // its duration (default 10s: 1000/s is beyond capacity here)
	CaptureOrders int           // orders for the Debezium-only rate (default 5000)
	OutDir        string        // where logs and the CPU profile go
	Log           io.Writer
}

// Capture is one Debezium-only measurement: orders committed as fast as 32 connections allow,
// processors stopped, until every OrderPlaced is visible in Kafka.
type Capture struct {
	Orders      int     `json:"orders"`
	InsertSecs  float64 `json:"insert_seconds"`
	InsertRate  float64 `json:"insert_rate"` // orders/s PostgreSQL took
	CaptureSecs float64 `json:"capture_seconds"`
	CaptureRate float64 `json:"capture_rate"` // orders/s visible in Kafka
	CDCFloorP50 float64 `json:"cdc_floor_p50_ms"`
	CDCFloorP99 float64 `json:"cdc_floor_p99_ms"`
}

// Search is one maximum-throughput search: rate steps until p99 freshness passes 1 s or an
// order is not terminal by the end of the drain window.
type Search struct {
	Steps          []Step  `json:"steps"`
	MaxSustainable float64 `json:"max_sustainable"` // orders/s
}

// PipelineResult holds every run of the end-to-end benchmarks.
type PipelineResult struct {
	Config struct {
		StepSeconds      float64 `json:"step_seconds"`
		FixedRate        float64 `json:"fixed_rate"`
		FixedStepSeconds float64 `json:"fixed_step_seconds"`
		Runs             int     `json:"runs"`
	} `json:"config"`
	Capture  []Capture `json:"capture"`
	Searches []Search  `json:"searches"`
	Half     []Step    `json:"half"`  // at 50% of that run's maximum, with view reads
	Fixed    []Step    `json:"fixed"` // at FixedRate
	Profile  string    `json:"profile,omitempty"`
}

// Pipeline runs the end-to-end benchmarks cfg.Runs times, each on a fresh private deployment
// with the processors in their own `orderflow run` process.
func Pipeline(ctx context.Context, cfg PipelineConfig) (PipelineResult, error) {
	if cfg.Binary == "" {
		return PipelineResult{}, errors.New("bench: no orderflow binary to run the processors (--orderflow, env ORDERFLOW_BIN)")
	}
	cfg.Step = cmpOr(cfg.Step, 45*time.Second)
	cfg.FixedStep = cmpOr(cfg.FixedStep, 10*time.Second)
	cfg.Runs = cmpOr(cfg.Runs, 3)
	cfg.StartRate = cmpOr(cfg.StartRate, 40)
	cfg.FixedRate = cmpOr(cfg.FixedRate, 1000)
	cfg.CaptureOrders = cmpOr(cfg.CaptureOrders, 5000)
	cfg.OutDir = cmpOr(cfg.OutDir, "bench-results")
	var res PipelineResult
	res.Config.StepSeconds, res.Config.FixedRate, res.Config.FixedStepSeconds, res.Config.Runs =
		cfg.Step.Seconds(), cfg.FixedRate, cfg.FixedStep.Seconds(), cfg.Runs
	for run := 1; run <= cfg.Runs; run++ {
		if err := pipelineRun(ctx, cfg, run, &res); err != nil {
			return res, fmt.Errorf("run %d: %w", run, err)
		}
	}
	return res, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func pipelineRun(ctx context.Context, cfg PipelineConfig, run int, res *PipelineResult) error {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, time.Now().Format("15:04:05 ")+fmt.Sprintf("run %d: ", run)+format+"\n", args...)
		}
	}
	env, err := newPipelineEnv(ctx, cfg.Endpoints, cfg.Binary)
	if err != nil {
		return err
	}
	defer env.close()
	t := env.Topology
	tr, err := startTracker(cfg.Endpoints.Brokers, env.Serde, string(t.OrderEvents()), string(t.Table(topology.GroupOrderStatus)))
	if err != nil {
		return err
	}
	defer tr.close()
	meter, err := lag.NewMeter(cfg.Endpoints.Brokers)
	if err != nil {
		return err
	}
	defer meter.Close()
	s := &stepRun{env: env, tr: tr, meter: meter}
	if err := env.seedStock(ctx, 1_000_000); err != nil {
		return err
	}

	// Debezium only: the processors are not running yet. A first, unrecorded capture warms up
	// Connect, the broker and PostgreSQL (JIT, connection pools, the new slot).
	_, warm, err := s.capture(ctx, max(200, cfg.CaptureOrders/5))
	if err != nil {
		return fmt.Errorf("warm-up capture: %w", err)
	}
	c, ids, err := s.capture(ctx, cfg.CaptureOrders)
	if err != nil {
		return err
	}
	res.Capture = append(res.Capture, c)
	logf("debezium only: %d orders inserted at %.0f/s, captured at %.0f/s (commit → visible p50 %.0f ms)",
		c.Orders, c.InsertRate, c.CaptureRate, c.CDCFloorP50)

	if err := env.startProcessors(ctx, filepath.Join(cfg.OutDir, "logs", fmt.Sprintf("run%d", run))); err != nil {
		return err
	}
	s.procPid = env.procs.Process.Pid
	// the capture backlog is the warm-up: every order must come out terminal
	if err := s.settle(ctx, append(warm, ids...), 15*time.Minute); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	view, err := startStatusView(ctx, cfg.Endpoints.Brokers, env.Serde, t.Table(topology.GroupOrderStatus),
		"bench-view", filepath.Join(env.stateDir, "view"))
	if err != nil {
		return err
	}
	defer view.close()
	recoverCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = view.waitRecovered(recoverCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("status view: %w", err)
	}

	// maximum sustainable throughput
	var search Search
	rate, failed := cfg.StartRate, 0.0
	for failed == 0 {
		st, err := s.run(ctx, rate, cfg.Step, 15*time.Second)
		if err != nil {
			return err
		}
		search.Steps = append(search.Steps, st)
		logf("%6.0f orders/s: offered %.0f, freshness p50 %.0f ms p99 %.0f ms, peak lag %d, drained in %.1fs → %v",
			rate, st.Offered, st.Freshness.P50, st.Freshness.P99, st.PeakLag, st.DrainSecs, passWord(st.Pass))
		switch {
		case st.Pass:
			search.MaxSustainable = rate
			rate *= 1.3
		case search.MaxSustainable == 0 && rate > 5:
			rate /= 2 // even the first rate was too much
		default:
			failed = rate
		}
	}
	if search.MaxSustainable > 0 { // one bisection between the last pass and the failure
		mid := (search.MaxSustainable + failed) / 2
		st, err := s.run(ctx, mid, cfg.Step, 15*time.Second)
		if err != nil {
			return err
		}
		search.Steps = append(search.Steps, st)
		logf("%6.0f orders/s: freshness p99 %.0f ms → %v", mid, st.Freshness.P99, passWord(st.Pass))
		if st.Pass {
			search.MaxSustainable = mid
		}
	}
	res.Searches = append(res.Searches, search)
	logf("maximum sustainable: %.0f orders/s", search.MaxSustainable)

	// freshness, view reads and CPU at 50% of the maximum; profile the processors meanwhile
	half := max(1, search.MaxSustainable/2)
	s.view = view.View
	var profWG sync.WaitGroup
	if run == 1 {
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			path := filepath.Join(cfg.OutDir, "cpu-processors.pb.gz")
			if err := fetchProfile(ctx, env.pprof, min(cfg.Step, 30*time.Second), path); err != nil {
				logf("profile: %v", err)
				return
			}
			res.Profile = path
		}()
	}
	st, err := s.run(ctx, half, cfg.Step, time.Minute)
	profWG.Wait()
	s.view = nil
	if err != nil {
		return err
	}
	res.Half = append(res.Half, st)
	logf("%6.0f orders/s (50%%): freshness p50 %.0f p99 %.0f p99.9 %.0f ms; view Get p99 %.3f ms (idle %.3f ms)",
		half, st.Freshness.P50, st.Freshness.P99, st.Freshness.P999, st.Reads.P99, st.IdleReads.P99)

	// freshness at the fixed rate
	st, err = s.run(ctx, cfg.FixedRate, cfg.FixedStep, 15*time.Second)
	if err != nil {
		return err
	}
	res.Fixed = append(res.Fixed, st)
	logf("%6.0f orders/s for %s: offered %.0f, freshness p50 %.0f p99 %.0f ms, peak lag %d, drained in %.1fs",
		cfg.FixedRate, cfg.FixedStep, st.Offered, st.Freshness.P50, st.Freshness.P99, st.PeakLag, st.DrainSecs)
	return nil
}

func passWord(ok bool) string {
	if ok {
		return "sustained"
	}
	return "not sustained"
}

// capture inserts n orders as fast as 32 connections allow with the processors stopped, and
// times how soon Debezium makes every OrderPlaced visible in Kafka.
func (s *stepRun) capture(ctx context.Context, n int) (Capture, []string, error) {
	var mu sync.Mutex
	var ids []string
	committed := map[string]time.Time{}
	start := time.Now()
	err := s.place(ctx, n, 0, start, func(p placed) {
		mu.Lock()
		ids = append(ids, p.id)
		committed[p.id] = p.committed
		mu.Unlock()
	})
	inserted := time.Since(start)
	if err != nil {
		return Capture{}, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var last time.Time
	for {
		missing := 0
		last = time.Time{}
		for _, id := range ids {
			p, _ := s.tr.seen(id)
			if p.IsZero() {
				missing++
			} else if p.After(last) {
				last = p
			}
		}
		if missing == 0 {
			break
		}
		select {
		case <-wctx.Done():
			return Capture{}, nil, fmt.Errorf("debezium only: %d of %d orders never captured", missing, len(ids))
		case <-time.After(50 * time.Millisecond):
		}
	}
	floor := newHist()
	for _, id := range ids {
		p, _ := s.tr.seen(id)
		_ = floor.RecordValue(max(1, p.Sub(committed[id]).Microseconds()))
	}
	if _, _, dup, _ := s.tr.check(ids); dup > 0 {
		return Capture{}, nil, fmt.Errorf("debezium only: %d orders captured more than once", dup)
	}
	captured := last.Sub(start)
	return Capture{Orders: len(ids), InsertSecs: inserted.Seconds(), InsertRate: float64(len(ids)) / inserted.Seconds(),
		CaptureSecs: captured.Seconds(), CaptureRate: float64(len(ids)) / captured.Seconds(),
		CDCFloorP50: float64(floor.ValueAtQuantile(50)) / 1000, CDCFloorP99: float64(floor.ValueAtQuantile(99)) / 1000}, ids, nil
}

// fetchProfile saves a CPU profile of d from a pprof endpoint.
func fetchProfile(ctx context.Context, base string, d time.Duration, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%sprofile?seconds=%d", base, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
