package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Querier is the part of a pgx connection or pool the slot collector uses.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// SlotWAL is what PostgreSQL holds for one replication slot.
type SlotWAL struct {
	Slot   string
	Active bool // a consumer (Debezium) is attached
	// RetainedBytes is the WAL between the server's current position and the slot's restart_lsn:
	// what PostgreSQL must keep on disk for the slot. -1 when the slot has reserved no WAL yet.
	RetainedBytes float64
}

// slotsSQL measures from the current WAL position on a primary and the replayed one on a standby.
const slotsSQL = `SELECT slot_name, active,
	COALESCE(pg_wal_lsn_diff(
		CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
		restart_lsn)::float8, -1)
	FROM pg_replication_slots
	WHERE cardinality($1::text[]) = 0 OR slot_name = ANY($1::text[])
	ORDER BY slot_name`

// ReadSlots returns the named replication slots (every slot when none is named) with the WAL each
// retains. A named slot that does not exist is left out.
func ReadSlots(ctx context.Context, db Querier, slots ...string) ([]SlotWAL, error) {
	if slots == nil {
		slots = []string{}
	}
	rows, err := db.Query(ctx, slotsSQL, slots)
	if err != nil {
		return nil, fmt.Errorf("read replication slots: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SlotWAL, error) {
		var s SlotWAL
		err := r.Scan(&s.Slot, &s.Active, &s.RetainedBytes)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read replication slots: %w", err)
	}
	return out, nil
}

// SlotCollector exports, at scrape time, orderflow_replication_slot_retained_wal_bytes (WAL
// PostgreSQL keeps on disk for the slot: it grows while the connector is stopped, lags, or
// cannot confirm positions) and orderflow_replication_slot_active (1 while a consumer is attached)
// per slot. A failed query is logged and the scrape goes on without these metrics.
type SlotCollector struct {
	read    func(context.Context) ([]SlotWAL, error)
	timeout time.Duration

	retained, active *prometheus.Desc
}

// NewSlotCollector measures the named replication slots of db (every slot when none is named),
// e.g. the outbox connector's slot.name. db is typically the process's *pgxpool.Pool.
func NewSlotCollector(db Querier, slots ...string) *SlotCollector {
	return newSlotCollector(func(ctx context.Context) ([]SlotWAL, error) { return ReadSlots(ctx, db, slots...) })
}

func newSlotCollector(read func(context.Context) ([]SlotWAL, error)) *SlotCollector {
	labels := []string{"slot"}
	return &SlotCollector{read: read, timeout: 5 * time.Second,
		retained: prometheus.NewDesc("orderflow_replication_slot_retained_wal_bytes",
			"Bytes of WAL PostgreSQL retains for the replication slot (current WAL position minus restart_lsn).", labels, nil),
		active: prometheus.NewDesc("orderflow_replication_slot_active",
			"1 while a consumer is attached to the replication slot.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *SlotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.retained
	ch <- c.active
}

// Collect implements prometheus.Collector.
func (c *SlotCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	slots, err := c.read(ctx)
	if err != nil {
		slog.Warn("replication slot measurement failed", "err", err)
		return
	}
	for _, s := range slots {
		active := 0.0
		if s.Active {
			active = 1
		}
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, active, s.Slot)
		if s.RetainedBytes >= 0 {
			ch <- prometheus.MustNewConstMetric(c.retained, prometheus.GaugeValue, s.RetainedBytes, s.Slot)
		}
	}
}
