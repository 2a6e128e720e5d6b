//go:build integration

package runner_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/loadgen"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Orders placed faster than the processors can handle them pile up as consumer lag, not as
// memory: the lag grows while the load runs, drains after it stops, the process's heap stays
// under a ceiling that does not depend on the backlog (goka and sarama buffer a fixed number of
// messages per partition; LevelDB write buffers are per partition), and every order ends as in
// a run without overload.
func TestIntegrationBackpressureLagGrowsThenDrains(t *testing.T) {
	p := deploy(t)
	p.start(runner.Config{API: true}) // the processors join a few seconds into the load, below
	pc, err := pgxpool.ParseConfig(p.cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	pc.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(itest.Context(t, time.Minute), pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	// Open loop, straight into the outbox: placing never waits for processing. PostgreSQL and the
	// processors sharing 2 cores run at about the same rate now, so the processors (in this
	// process, whose heap /metrics reports) start 4 s into the load, behind a backlog of
	// thousands of orders, and work through it while orders keep coming.
	const n = 24000
	direct := loadgen.StorePlacer{Store: orders.NewStore(pool, serde, p.schema)}
	res := p.checkLoad(t, loadgen.Config{Orders: n, Concurrency: 32, OpenLoop: true, Placer: direct,
		MetricsURL: p.base + "/metrics"}, func() {
		time.Sleep(4 * time.Second)
		p.start(runner.Config{Processors: topology.Processors()})
	})
	pr := res.Pressure
	t.Logf("%d orders placed in %s (%.0f/s offered), all terminal after %s (%.0f/s)", n,
		res.LoadTime.Round(time.Millisecond), n/res.LoadTime.Seconds(), res.Elapsed.Round(time.Millisecond), n/res.Elapsed.Seconds())
	t.Logf("peak lag %d messages (oldest %.1fs), drained %s after the last order, peak RSS %d MiB, peak heap %d MiB (%d samples)",
		pr.PeakLag, pr.PeakLagAge, pr.DrainTime.Round(100*time.Millisecond), pr.PeakRSS>>20, pr.PeakHeap>>20, pr.SampleCount)

	if pr.SampleCount < 10 {
		t.Fatalf("only %d metric samples: /metrics was not watched", pr.SampleCount)
	}
	// Overload really happened: messages waited in Kafka, and the orders finished well after the
	// last one was placed.
	if pr.PeakLagAge < 2 || pr.PeakLag < 500 {
		t.Errorf("peak lag %d messages / %.1fs: the load did not exceed the processors' capacity", pr.PeakLag, pr.PeakLagAge)
	}
	if pr.DrainedAt.IsZero() {
		t.Errorf("lag never drained back to zero after the load")
	}
	// Bounded memory: an unbounded buffer of the backlog would show as growth with the number of
	// orders (measured with 3000 orders before the state redesign: ~300 MiB, most of it the hot
	// SKU ledgers' JSON values).
	const heapCeiling = 768 << 20
	if pr.PeakHeap > heapCeiling {
		t.Errorf("peak heap %d MiB over the %d MiB ceiling", pr.PeakHeap>>20, heapCeiling>>20)
	}
}
