package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestScrapeSumsLagAndReadsMemory(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# TYPE orderflow_consumer_lag_messages gauge
orderflow_consumer_lag_messages{group="a",partition="0",topic="t"} 7
orderflow_consumer_lag_messages{group="b",partition="1",topic="t"} 5
# TYPE orderflow_consumer_lag_seconds gauge
orderflow_consumer_lag_seconds{group="a",partition="0",topic="t"} 1.5
orderflow_consumer_lag_seconds{group="b",partition="1",topic="t"} 4.25
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+08
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 5.0e+07
# TYPE orderflow_table_recovered gauge
orderflow_table_recovered{role="processor",table="a"} 1
orderflow_table_recovered{role="processor",table="b"} 0
orderflow_table_recovered{role="view",table="views"} 1
`)
	}))
	defer srv.Close()
	s, err := Scrape(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s.LagMessages != 12 || s.LagSeconds != 4.25 || s.RSSBytes != 104857600 || s.HeapBytes != 50000000 || s.ProcessorTablesRecovered != 1 {
		t.Fatalf("sample %+v", s)
	}
}

func TestScrapeReportsAServerError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if _, err := Scrape(context.Background(), srv.Client(), srv.URL); err == nil {
		t.Fatal("want an error for a 503")
	}
}

func TestSummariseFindsPeakAndDrain(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	samples := []Sample{
		{At: at(0), LagMessages: 0, RSSBytes: 10},
		{At: at(1), LagMessages: 100, LagSeconds: 1, RSSBytes: 30, HeapBytes: 5},
		{At: at(2), LagMessages: 400, LagSeconds: 2, RSSBytes: 20},
		{At: at(3), LagMessages: 50, LagSeconds: 3},
		{At: at(5), LagMessages: 0},
		{At: at(6), LagMessages: 0},
	}
	p := Summarise(samples, at(2))
	if p.PeakLag != 400 || !p.PeakLagAt.Equal(at(2)) || p.PeakLagAge != 3 || p.PeakRSS != 30 || p.PeakHeap != 5 {
		t.Fatalf("peaks %+v", p)
	}
	if !p.DrainedAt.Equal(at(5)) || p.DrainTime != 3*time.Second {
		t.Fatalf("drain at %s after %s", p.DrainedAt, p.DrainTime)
	}
	if p := Summarise(samples[:4], at(2)); !p.DrainedAt.IsZero() {
		t.Fatalf("drained %s although lag never reached zero", p.DrainedAt)
	}
}

func TestPaceSchedulesByIntendedTime(t *testing.T) {
	start := time.Now()
	var at []time.Time
	Pace(context.Background(), start, 5, 200, func(k int, intended time.Time) {
		if k != len(at) {
			t.Fatalf("send %d out of order", k)
		}
		at = append(at, intended)
		if k == 1 {
			time.Sleep(30 * time.Millisecond) // a stall does not move later intended times
		}
	})
	if len(at) != 5 {
		t.Fatalf("%d sends, want 5", len(at))
	}
	for k, a := range at {
		if want := start.Add(time.Duration(k) * 5 * time.Millisecond); !a.Equal(want) {
			t.Errorf("send %d intended at +%s, want +%s", k, a.Sub(start), want.Sub(start))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	Pace(ctx, time.Now(), 5, 1, func(int, time.Time) { n++ })
	if n != 0 {
		t.Errorf("%d sends after the context ended, want none", n)
	}
}
