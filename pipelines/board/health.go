package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/connectors"
	"github.com/orderflow/orderflow/internal/lag"
)

// Lag sampling: one sample every LagSampleInterval, the last LagHistory kept.
const (
	LagSampleInterval = 5 * time.Second
	LagHistory        = 10 * time.Minute
	lagSamples        = int(LagHistory / LagSampleInterval)
	lagMeasureTimeout = 10 * time.Second
)

// DeadLettersShown is how many of a dead-letter topic's newest entries /ops/health lists.
const DeadLettersShown = 3

// Slot is what PostgreSQL retains for a replication slot.
type Slot struct {
	Name             string `json:"name"`
	RetainedWALBytes int64  `json:"retained_wal_bytes"`
	Active           bool   `json:"active"` // a consumer (Debezium) is attached
}

// SlotReader reads the replication slot the board shows; nil, nil when it does not exist.
type SlotReader func(ctx context.Context) (*Slot, error)

// PostgresSlot reads the replication slot name of db (e.g. the outbox connector's slot.name).
func PostgresSlot(db connectors.Querier, name string) SlotReader {
	return func(ctx context.Context) (*Slot, error) {
		slots, err := connectors.ReadSlots(ctx, db, name)
		if err != nil {
			return nil, err
		}
		for _, s := range slots {
			if s.Slot == name {
				// -1: the slot reserved no WAL yet, i.e. it retains none
				return &Slot{Name: s.Slot, RetainedWALBytes: max(0, int64(s.RetainedBytes)), Active: s.Active}, nil
			}
		}
		return nil, nil
	}
}

// groupLag is one consumer group's lag over all its partitions.
type groupLag struct {
	Group  string
	Lag    int64         // messages, summed over the partitions
	Oldest time.Duration // age of the oldest unprocessed message, the largest over the partitions
}

type lagSample struct {
	At     time.Time
	Groups []groupLag // sorted by group
}

// lagSampler measures the groups' lag and keeps the samples of the last LagHistory.
//
// Consumes: the meter's measurements. Keeps: the latest sample, and a ring of lagSamples samples
// at least LagSampleInterval apart (bounded memory however long it runs). Emits: the latest
// sample and the ring, oldest first.
type lagSampler struct {
	meter  LagMeter // nil: nothing measured
	groups map[string][]string
	slo    time.Duration

	measuring chan struct{} // one measurement at a time

	mu      sync.Mutex
	latest  *lagSample
	ring    [lagSamples]lagSample
	next, n int // the ring's next slot and its fill
}

func newLagSampler(meter LagMeter, groups map[string][]string, slo time.Duration) *lagSampler {
	return &lagSampler{meter: meter, groups: groups, slo: slo, measuring: make(chan struct{}, 1)}
}

// run samples every LagSampleInterval until ctx ends.
func (s *lagSampler) run(ctx context.Context) {
	if s.meter == nil {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(LagSampleInterval)
	defer tick.Stop()
	failing := false
	for {
		_, err := s.sample(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			slog.Warn("board: lag sampling failed (logged once until it works again)", "err", err)
			failing = true
		case err == nil && failing:
			slog.Info("board: lag sampling works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample measures now and records the sample.
func (s *lagSampler) sample(ctx context.Context) (lagSample, error) {
	select {
	case s.measuring <- struct{}{}:
		defer func() { <-s.measuring }()
	case <-ctx.Done():
		return lagSample{}, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, lagMeasureTimeout)
	defer cancel()
	ps, err := s.meter.Measure(ctx, s.groups)
	if err != nil {
		return lagSample{}, fmt.Errorf("measuring lag: %w", err)
	}
	sample := aggregate(time.Now(), ps)
	s.record(sample)
	return sample, nil
}

// aggregate sums the partitions' lag per group.
func aggregate(at time.Time, ps []lag.Partition) lagSample {
	byGroup := map[string]*groupLag{}
	for _, p := range ps {
		g := byGroup[p.Group]
		if g == nil {
			g = &groupLag{Group: p.Group}
			byGroup[p.Group] = g
		}
		g.Lag += p.Lag
		g.Oldest = max(g.Oldest, p.TimeLag)
	}
	sample := lagSample{At: at, Groups: make([]groupLag, 0, len(byGroup))}
	for _, name := range sortedKeys(byGroup) {
		sample.Groups = append(sample.Groups, *byGroup[name])
	}
	return sample
}

// record makes sample the latest, and puts it in the ring unless the ring's last sample is
// less than an interval older (a measurement asked for by a request between two ticks).
func (s *lagSampler) record(sample lagSample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = &sample
	if s.n > 0 {
		last := s.ring[(s.next+lagSamples-1)%lagSamples]
		if sample.At.Sub(last.At) < LagSampleInterval*9/10 {
			return
		}
	}
	s.ring[s.next] = sample
	s.next = (s.next + 1) % lagSamples
	s.n = min(s.n+1, lagSamples)
}

// current returns the latest sample when it is fresh (taken within two intervals), else
// measures now (the sampler is not running, or failing).
func (s *lagSampler) current(ctx context.Context) (lagSample, error) {
	s.mu.Lock()
	latest := s.latest
	s.mu.Unlock()
	if latest != nil && time.Since(latest.At) < 2*LagSampleInterval {
		return *latest, nil
	}
	return s.sample(ctx)
}

// history returns the ring's samples of the last LagHistory, oldest first.
func (s *lagSampler) history() []lagSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]lagSample, 0, s.n)
	since := time.Now().Add(-LagHistory)
	for i := range s.n {
		sample := s.ring[(s.next-s.n+i+lagSamples)%lagSamples]
		if sample.At.After(since) {
			out = append(out, sample)
		}
	}
	return out
}

type groupLagJSON struct {
	Group         string  `json:"group"`
	Lag           int64   `json:"lag"`
	OldestSeconds float64 `json:"oldest_seconds"`
	WithinSLO     bool    `json:"within_slo"`
}

type lagSampleJSON struct {
	At            string             `json:"at"`
	Lag           map[string]int64   `json:"lag"`            // messages
	OldestSeconds map[string]float64 `json:"oldest_seconds"` // the age the SLO is on
}

type deadLetterJSON struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	Processor string    `json:"processor"`
}

type deadLetterTopicJSON struct {
	Topic  string           `json:"topic"`
	Count  int64            `json:"count"`
	Latest []deadLetterJSON `json:"latest"`
}

type versionJSON struct {
	Processor string   `json:"processor"`
	Serving   string   `json:"serving"`
	Versions  []string `json:"versions"`
}

type healthJSON struct {
	LagSLOSeconds float64               `json:"lag_slo_seconds"`
	Lag           []groupLagJSON        `json:"lag"`
	LagHistory    []lagSampleJSON       `json:"lag_history"`
	DeadLetters   []deadLetterTopicJSON `json:"dead_letters"`
	Versions      []versionJSON         `json:"versions"`
	Slot          *Slot                 `json:"slot"`
	// Unavailable names the parts that could not be read this time (their lists are empty);
	// RequestID finds their errors in the log.
	Unavailable []string `json:"unavailable,omitempty"`
	RequestID   string   `json:"request_id,omitempty"`
}

// health answers GET /ops/health: lag per group against the SLO and its history, dead letters
// per topic, table versions and the replication slot. A part whose source fails is left empty
// and named in "unavailable" (the rest still answers: the board is most needed when something
// is down); only when every part fails is the answer a 503.
func (b *Board) health(w http.ResponseWriter, r *http.Request) {
	out := healthJSON{LagSLOSeconds: b.cfg.LagSLO.Seconds(), Lag: []groupLagJSON{}, LagHistory: []lagSampleJSON{},
		DeadLetters: []deadLetterTopicJSON{}, Versions: []versionJSON{}}
	var mu sync.Mutex
	failures := map[string]error{}
	part := func(name string, fn func(ctx context.Context) error) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(r.Context(), healthPartTimeout)
			defer cancel()
			if err := fn(ctx); err != nil {
				mu.Lock()
				failures[name] = err
				mu.Unlock()
			}
			return nil
		}
	}
	var g errgroup.Group
	parts := 3
	if b.cfg.Meter != nil {
		parts++
		g.Go(part("lag", func(ctx context.Context) error {
			current, err := b.lag.current(ctx)
			if err != nil {
				return err
			}
			for _, gl := range current.Groups {
				out.Lag = append(out.Lag, groupLagJSON{Group: gl.Group, Lag: gl.Lag, OldestSeconds: gl.Oldest.Seconds(), WithinSLO: gl.Oldest <= b.cfg.LagSLO})
			}
			return nil
		}))
	}
	g.Go(part("dead_letters", func(ctx context.Context) error {
		dl, err := b.deadLetterCache.get(ctx, b.readDeadLetters)
		out.DeadLetters = append(out.DeadLetters, dl...)
		return err
	}))
	g.Go(part("versions", func(ctx context.Context) error {
		vs, err := b.versionsCache.get(ctx, b.readVersions)
		out.Versions = append(out.Versions, vs...)
		return err
	}))
	g.Go(part("slot", func(ctx context.Context) error {
		if b.cfg.Slot == nil {
			return nil
		}
		slot, err := b.slotCache.get(ctx, func(ctx context.Context) (*Slot, error) { return b.cfg.Slot(ctx) })
		out.Slot = slot
		return err
	}))
	_ = g.Wait()
	for _, sample := range b.lag.history() {
		entry := lagSampleJSON{At: sample.At.UTC().Format(time.RFC3339), Lag: map[string]int64{}, OldestSeconds: map[string]float64{}}
		for _, gl := range sample.Groups {
			entry.Lag[gl.Group], entry.OldestSeconds[gl.Group] = gl.Lag, gl.Oldest.Seconds()
		}
		out.LagHistory = append(out.LagHistory, entry)
	}
	if len(failures) == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	var errs []error
	for _, name := range sortedKeys(failures) {
		out.Unavailable = append(out.Unavailable, name)
		errs = append(errs, fmt.Errorf("%s: %w", name, failures[name]))
	}
	if len(failures) == parts {
		unavailable(w, r, "health sources unavailable", errors.Join(errs...))
		return
	}
	out.RequestID = newRequestID()
	slog.Warn("board: health answered in part", "request_id", out.RequestID, "unavailable", out.Unavailable, "err", errors.Join(errs...))
	w.Header().Set("X-Request-Id", out.RequestID)
	writeJSON(w, http.StatusOK, out)
}

// readDeadLetters counts every dead-letter topic of the topology and reads the newest entries
// of those with any.
func (b *Board) readDeadLetters(ctx context.Context) ([]deadLetterTopicJSON, error) {
	topics := sortedKeys(b.deadLetters)
	found := make([]deadLetterTopicJSON, len(topics))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, topic := range topics {
		g.Go(func() error {
			stats, err := b.cluster.deadLetters(gctx, topic, DeadLettersShown)
			if errors.Is(err, errUnknownTopic) {
				return nil // not created (yet): nothing dead-lettered
			}
			if err != nil {
				return fmt.Errorf("dead letters of %s: %w", topic, err)
			}
			found[i] = deadLetterTopicJSON{Topic: topic, Count: stats.count, Latest: []deadLetterJSON{}}
			for _, e := range stats.latest {
				found[i].Latest = append(found[i].Latest, deadLetterJSON{Partition: e.partition, Offset: e.offset, Time: e.time,
					Kind: e.kind, Reason: e.reason, Processor: e.processor})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := []deadLetterTopicJSON{}
	for _, f := range found {
		if f.Count > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

// readVersions lists each processor's table versions.
func (b *Board) readVersions(ctx context.Context) ([]versionJSON, error) {
	infos, err := b.cluster.versions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]versionJSON, 0, len(infos))
	for _, info := range infos {
		vs := slices.Clone(info.Versions)
		if vs == nil {
			vs = []string{}
		}
		out = append(out, versionJSON{Processor: info.Processor, Serving: info.Serving, Versions: vs})
	}
	return out, nil
}
