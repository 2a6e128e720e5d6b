package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one scrape of an orderflow process's /metrics.
type Sample struct {
	At          time.Time
	LagMessages int64   // sum of orderflow_consumer_lag_messages over every group and partition
	LagSeconds  float64 // max of orderflow_consumer_lag_seconds
	RSSBytes    int64   // process_resident_memory_bytes
	HeapBytes   int64   // go_memstats_heap_inuse_bytes
	// ProcessorTablesRecovered counts orderflow_table_recovered{role="processor"} at 1.
	ProcessorTablesRecovered int
}

// Watcher scrapes /metrics at a fixed interval until stopped.
type Watcher struct {
	mu      sync.Mutex
	samples []Sample
	errs    int
	stop    context.CancelFunc
	done    chan struct{}
}

// Watch starts scraping url (an orderflow /metrics endpoint) every interval.
func Watch(ctx context.Context, client *http.Client, url string, interval time.Duration) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s, err := Scrape(ctx, client, url)
			w.mu.Lock()
			if err != nil {
				w.errs++
			} else {
				w.samples = append(w.samples, s)
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Samples returns the samples so far.
func (w *Watcher) Samples() []Sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Sample(nil), w.samples...)
}

// Stop ends scraping and returns every sample taken.
func (w *Watcher) Stop() []Sample {
	w.stop()
	<-w.done
	return w.Samples()
}

// Scrape reads the lag and memory figures of one /metrics page.
func Scrape(ctx context.Context, client *http.Client, url string) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Sample{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	s := Sample{At: time.Now()}
	each := func(name string, f func(float64)) {
		if fam := families[name]; fam != nil {
			for _, m := range fam.GetMetric() {
				f(value(m))
			}
		}
	}
	each("orderflow_consumer_lag_messages", func(v float64) { s.LagMessages += int64(v) })
	each("orderflow_consumer_lag_seconds", func(v float64) { s.LagSeconds = max(s.LagSeconds, v) })
	each("process_resident_memory_bytes", func(v float64) { s.RSSBytes = int64(v) })
	each("go_memstats_heap_inuse_bytes", func(v float64) { s.HeapBytes = int64(v) })
	if fam := families["orderflow_table_recovered"]; fam != nil {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "role" && l.GetValue() == "processor" && value(m) == 1 {
					s.ProcessorTablesRecovered++
				}
			}
		}
	}
	return s, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// Pressure summarises the samples of an overload run.
type Pressure struct {
	PeakLag     int64         // highest total lag (messages)
	PeakLagAt   time.Time     // when it was seen
	PeakLagAge  float64       // highest time lag (seconds)
	PeakRSS     int64         // highest resident set (bytes)
	PeakHeap    int64         // highest Go heap in use (bytes)
	DrainedAt   time.Time     // first sample after the peak with no lag (zero if never)
	DrainTime   time.Duration // from loadEnd to DrainedAt
	SampleCount int
}

// Summarise computes the pressure figures of samples; loadEnd is when the last order was placed.
func Summarise(samples []Sample, loadEnd time.Time) Pressure {
	var p Pressure
	p.SampleCount = len(samples)
	for _, s := range samples {
		if s.LagMessages > p.PeakLag {
			p.PeakLag, p.PeakLagAt = s.LagMessages, s.At
		}
		p.PeakLagAge = max(p.PeakLagAge, s.LagSeconds)
		p.PeakRSS = max(p.PeakRSS, s.RSSBytes)
		p.PeakHeap = max(p.PeakHeap, s.HeapBytes)
	}
	for _, s := range samples {
		if s.At.After(p.PeakLagAt) && !s.At.Before(loadEnd) && s.LagMessages == 0 {
			p.DrainedAt = s.At
			p.DrainTime = s.At.Sub(loadEnd)
			break
		}
	}
	return p
}
