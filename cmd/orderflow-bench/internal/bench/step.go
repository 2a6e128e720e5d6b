package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/loadgen"
)

// Latency percentiles in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	// Distribution: latency (ms) at each quantile, for plots
	Distribution []QuantilePoint `json:"distribution,omitempty"`
}

// QuantilePoint is one point of a latency distribution.
type QuantilePoint struct {
	Quantile float64 `json:"q"`
	Millis   float64 `json:"ms"`
}

// LagPoint is the total input lag of every processor at a moment of a step.
type LagPoint struct {
	Seconds  float64 `json:"t"`
	Messages int64   `json:"messages"`
}

// Step is one fixed-rate load on the pipeline.
type Step struct {
	Rate       float64            `json:"rate"`          // target orders/s
	Seconds    float64            `json:"seconds"`       // load duration
	Orders     int                `json:"orders"`        // placed
	Offered    float64            `json:"offered"`       // placed / duration
	Freshness  Latency            `json:"freshness"`     // intended send → terminal status visible
	CDCFloor   Latency            `json:"cdc_floor"`     // intended send → OrderPlaced visible in Kafka
	Lag        []LagPoint         `json:"lag"`           // total lag over the step and its drain
	PeakLag    int64              `json:"peak_lag"`      // messages
	DrainSecs  float64            `json:"drain_seconds"` // end of load → every order terminal
	Outcomes   map[string]int     `json:"outcomes"`
	CPUSeconds map[string]float64 `json:"cpu_seconds"`               // per component, load and drain
	Pass       bool               `json:"pass"`                      // every order terminal and p99 freshness < 1 s
	Reads      *Latency           `json:"view_reads,omitempty"`      // view Gets while ingesting
	IdleReads  *Latency           `json:"idle_view_reads,omitempty"` // the same after the drain
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 30*60*1_000_000, 3) } // µs, up to 30 min

func latencyOf(h *hdrhistogram.Histogram, withDistribution bool) Latency {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	l := Latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
	if withDistribution && h.TotalCount() > 0 {
		for _, q := range []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100} {
			l.Distribution = append(l.Distribution, QuantilePoint{Quantile: q, Millis: ms(h.ValueAtQuantile(q))})
		}
	}
	return l
}

type stepRun struct {
	env     *pipelineEnv
	tr      *tracker
	meter   *lag.Meter
	view    *goka.View // read during the step when set
	next    int        // index of the next order of the mix
	procPid int
}

// placed is one order the harness placed.
type placed struct {
	id                  string
	intended, committed time.Time
}

// place places n orders of the mix, continuing its sequence, over 32 connections, paced at rate
// from start (0: as fast as they go; see loadgen.Pace); record sees each order placed, from the
// placing goroutines. It returns the first failure, after the other orders are placed.
func (s *stepRun) place(ctx context.Context, n int, rate float64, start time.Time, record func(placed)) error {
	type job struct {
		i        int
		intended time.Time
	}
	jobs := make(chan job, n)
	placer := loadgen.StorePlacer{Store: s.env.store}
	var failure sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				id, err := placer.Place(ctx, loadgen.Mix(j.i))
				if err != nil {
					failure.Do(func() { firstErr = fmt.Errorf("place order %d: %w", j.i, err) })
					continue
				}
				record(placed{id: id, intended: j.intended, committed: time.Now()})
			}
		}()
	}
	loadgen.Pace(ctx, start, n, rate, func(_ int, at time.Time) {
		jobs <- job{s.next, at}
		s.next++
	})
	close(jobs)
	wg.Wait()
	return firstErr
}

// run places orders of the mix at rate for d (open loop: each send is scheduled at its intended
// time and latency counts from it, so a stall of the loader or the database shows instead of
// being hidden), then waits until every order is terminal (at most drainMax).
func (s *stepRun) run(ctx context.Context, rate float64, d, drainMax time.Duration) (Step, error) {
	s.waitNoLag(ctx, time.Minute) // start from a drained pipeline
	n := max(1, int(rate*d.Seconds()))
	var mu sync.Mutex
	ids := make([]string, 0, n)
	intended := map[string]time.Time{}

	inputs := catalog.Inputs(s.env.Topology)
	lagCtx, stopLag := context.WithCancel(ctx)
	var lagPoints []LagPoint
	var lagWG sync.WaitGroup
	start := time.Now()
	lagWG.Add(1)
	go func() {
		defer lagWG.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if ps, err := s.meter.Measure(lagCtx, inputs); err == nil {
				lagPoints = append(lagPoints, LagPoint{Seconds: time.Since(start).Seconds(), Messages: lag.Total(ps)})
			}
			select {
			case <-lagCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var reads, idleReads *hdrhistogram.Histogram
	readCtx, stopReads := context.WithCancel(ctx)
	var readWG sync.WaitGroup
	if s.view != nil {
		reads = newNanoHist()
		readWG.Add(1)
		go func() { defer readWG.Done(); readView(readCtx, s.view, reads, &mu, &ids) }()
	}

	cpuBefore := takeCPU(s.procPid)
	placeErr := s.place(ctx, n, rate, start, func(p placed) {
		mu.Lock()
		ids = append(ids, p.id)
		intended[p.id] = p.intended
		mu.Unlock()
	})
	loadEnd := time.Now()
	stopReads()
	readWG.Wait()
	if placeErr != nil {
		stopLag()
		return Step{}, placeErr
	}

	// sustained means: every order terminal within drainMax of the end of the load …
	drainCtx, cancel := context.WithTimeout(ctx, drainMax)
	terminalInTime := s.tr.waitTerminal(drainCtx, ids)
	cancel()
	// … but an order not terminal by then may only be late: settle waits longer, then fails
	if err := s.settle(ctx, ids, 15*time.Minute); err != nil {
		stopLag()
		return Step{}, fmt.Errorf("step at %.0f/s: %w", rate, err)
	}
	cpu := takeCPU(s.procPid).since(cpuBefore)
	var lastTerminal time.Time
	fresh, floor := newHist(), newHist()
	for _, id := range ids {
		placedAt, terminalAt := s.tr.seen(id)
		_ = fresh.RecordValue(max(1, terminalAt.Sub(intended[id]).Microseconds()))
		if !placedAt.IsZero() {
			_ = floor.RecordValue(max(1, placedAt.Sub(intended[id]).Microseconds()))
		}
		if terminalAt.After(lastTerminal) {
			lastTerminal = terminalAt
		}
	}
	// let the lag series show the end of the drain (the ledger's COMMITs follow the statuses)
	s.waitNoLag(ctx, 30*time.Second)
	stopLag()
	lagWG.Wait()
	if s.view != nil {
		idleReads = newNanoHist()
		idleCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		readView(idleCtx, s.view, idleReads, &mu, &ids)
		cancel()
	}
	_, _, dup, outcomes := s.tr.check(ids)
	if dup > 0 {
		return Step{}, fmt.Errorf("step at %.0f/s: %d orders captured more than once", rate, dup)
	}
	st := Step{Rate: rate, Seconds: loadEnd.Sub(start).Seconds(), Orders: len(ids), Offered: float64(len(ids)) / loadEnd.Sub(start).Seconds(),
		Freshness: latencyOf(fresh, true), CDCFloor: latencyOf(floor, true), Lag: lagPoints,
		DrainSecs: max(0, lastTerminal.Sub(loadEnd).Seconds()), CPUSeconds: cpu, Outcomes: outcomes}
	for _, p := range lagPoints {
		st.PeakLag = max(st.PeakLag, p.Messages)
	}
	if reads != nil {
		r, i := nanoLatency(reads), nanoLatency(idleReads)
		st.Reads, st.IdleReads = &r, &i
	}
	st.Pass = terminalInTime == len(ids) && st.Freshness.P99 < 1000
	return st, nil
}

// waitNoLag waits (at most timeout) until no processor has input left to process.
func (s *stepRun) waitNoLag(ctx context.Context, timeout time.Duration) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_ = s.meter.WaitCaughtUp(wctx, catalog.Inputs(s.env.Topology), 250*time.Millisecond) // a step may start on a remainder
}

// settle waits until every order of ids is terminal and fails, naming how many are not, after
// timeout: an order lost on the way.
func (s *stepRun) settle(ctx context.Context, ids []string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if n := s.tr.waitTerminal(wctx, ids); n < len(ids) {
		missingPlaced, _, _, _ := s.tr.check(ids)
		return fmt.Errorf("%d of %d orders never reached a terminal status (%d never seen in the order topic)", len(ids)-n, len(ids), missingPlaced)
	}
	return nil
}

func newNanoHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 10_000_000_000, 3) } // ns, up to 10 s

// nanoLatency turns a histogram of nanoseconds into Latency (milliseconds).
func nanoLatency(h *hdrhistogram.Histogram) Latency {
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	return Latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
}

// readView gets random placed orders from the view, 2000 reads/s, until ctx ends.
func readView(ctx context.Context, view *goka.View, h *hdrhistogram.Histogram, mu *sync.Mutex, ids *[]string) {
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		mu.Lock()
		n := len(*ids)
		var id string
		if n > 0 {
			id = (*ids)[rand.IntN(n)]
		}
		mu.Unlock()
		if id == "" {
			continue
		}
		t0 := time.Now()
		if _, err := view.Get(id); err == nil {
			_ = h.RecordValue(max(1, time.Since(t0).Nanoseconds()))
		}
	}
}
