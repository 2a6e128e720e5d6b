//go:build integration

package runner_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/pipelines/itest"
	"github.com/orderflow/orderflow/pipelines/loadgen"
	"github.com/orderflow/orderflow/pipelines/orders"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Orders placed faster than the processors can handle them pile up as consumer lag, not as
// memory: the lag grows while the load runs, drains after it stops, the process's heap stays
// under a ceiling that does not depend on the backlog (goka and sarama buffer a fixed number of
// messages per partition; LevelDB write buffers are per partition), and every order ends as in
// a run without overload.
func TestIntegrationBackpressureLagGrowsThenDrains(t *testing.T) {
	p := startPipeline(t)
	pc, err := pgxpool.ParseConfig(p.cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	pc.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(itest.Context(t, time.Minute), pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	// Open loop, straight into the outbox: placing never waits for processing, and PostgreSQL
	// takes orders ~10× faster than the processors handle them on this machine.
	direct := loadgen.StorePlacer{Store: orders.NewStore(pool, serde, p.schema)}
	res := p.checkLoad(t, loadgen.Config{Orders: 3000, Concurrency: 16, OpenLoop: true, Placer: direct,
		MetricsURL: p.base + "/metrics"}, func() {})
	pr := res.Pressure
	t.Logf("3000 orders placed in %s (%.0f/s offered), all terminal after %s (%.0f/s)",
		res.LoadTime.Round(time.Millisecond), 3000/res.LoadTime.Seconds(), res.Elapsed.Round(time.Millisecond), 3000/res.Elapsed.Seconds())
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
	// Bounded memory. Measured: peak heap ~300 MiB with this backlog (the hot SKU ledgers are
	// large JSON values decoded per message); an unbounded buffer of the backlog would show as
	// growth with the number of orders.
	const heapCeiling = 768 << 20
	if pr.PeakHeap > heapCeiling {
		t.Errorf("peak heap %d MiB over the %d MiB ceiling", pr.PeakHeap>>20, heapCeiling>>20)
	}
}
