package connectors

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gather scrapes c through a pedantic registry (which checks Describe against Collect) and
// returns name{slot} → value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	return got
}

func TestSlotCollectorExportsRetainedWAL(t *testing.T) {
	c := newSlotCollector(func(context.Context) ([]SlotWAL, error) {
		return []SlotWAL{
			{Slot: "orderflow_outbox", Active: true, RetainedBytes: 4096},
			{Slot: "idle_outbox", Active: false, RetainedBytes: 1 << 30},
			{Slot: "new_outbox", Active: false, RetainedBytes: -1}, // no WAL reserved yet
		}, nil
	})
	want := map[string]float64{
		"orderflow_replication_slot_retained_wal_bytes{slot=orderflow_outbox}": 4096,
		"orderflow_replication_slot_retained_wal_bytes{slot=idle_outbox}":      1 << 30,
		"orderflow_replication_slot_active{slot=orderflow_outbox}":             1,
		"orderflow_replication_slot_active{slot=idle_outbox}":                  0,
		"orderflow_replication_slot_active{slot=new_outbox}":                   0,
	}
	if got := gather(t, c); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// A database that does not answer costs the scrape these metrics, not the whole /metrics page.
func TestSlotCollectorSkipsOnError(t *testing.T) {
	c := newSlotCollector(func(context.Context) ([]SlotWAL, error) { return nil, errors.New("connection refused") })
	if got := gather(t, c); len(got) != 0 {
		t.Errorf("collected %v from a failed query, want nothing", got)
	}
}
