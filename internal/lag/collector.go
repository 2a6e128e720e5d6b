package lag

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports consumer lag as Prometheus gauges, measured at scrape time:
// orderflow_consumer_lag_messages and orderflow_consumer_lag_seconds per group, topic and
// partition, and orderflow_lag_slo_breached (1 when any partition's time lag exceeds the SLO).
type Collector struct {
	meter  *Meter
	groups map[string][]string
	slo    time.Duration

	messages, seconds, breached *prometheus.Desc
}

// NewCollector measures groups (group → input topics) with meter on every scrape.
func NewCollector(meter *Meter, groups map[string][]string, slo time.Duration) *Collector {
	labels := []string{"group", "topic", "partition"}
	return &Collector{meter: meter, groups: groups, slo: slo,
		messages: prometheus.NewDesc("orderflow_consumer_lag_messages", "Messages a consumer group has yet to process on a partition.", labels, nil),
		seconds:  prometheus.NewDesc("orderflow_consumer_lag_seconds", "Age of the oldest message a consumer group has yet to process on a partition (0 when caught up).", labels, nil),
		breached: prometheus.NewDesc("orderflow_lag_slo_breached", "1 when some partition's time lag exceeds the SLO.", []string{"slo"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.seconds
	ch <- c.breached
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := c.meter.Measure(ctx, c.groups)
	if err != nil {
		slog.Warn("lag measurement failed", "err", err)
		return
	}
	for _, p := range ps {
		part := strconv.Itoa(int(p.Partition))
		ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(p.Lag), p.Group, p.Topic, part)
		ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.GaugeValue, p.TimeLag.Seconds(), p.Group, p.Topic, part)
	}
	breached := 0.0
	if len(Breaches(ps, c.slo)) > 0 {
		breached = 1
	}
	ch <- prometheus.MustNewConstMetric(c.breached, prometheus.GaugeValue, breached, c.slo.String())
}
