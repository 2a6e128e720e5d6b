package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Tokens of fakeAuth.
const (
	opsToken      = "ops-token"
	customerToken = "customer-token"
)

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, token string) (auth.Principal, error) {
	switch token {
	case opsToken:
		return auth.Principal{ID: "ops", Scopes: []string{auth.ScopeOperations}}, nil
	case customerToken:
		return auth.Principal{ID: "c", Scopes: []string{auth.ScopeCustomer}, Customer: "c-1"}, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
}

// fakeViews serves fixed answers and hands out subscriptions the test feeds.
type fakeViews struct {
	notReady bool
	statuses map[string]schemas.OrderStatus
	summary  views.Summary
	returns  []views.OrderReturn
	stock    []views.Stock
	err      error
	panics   bool

	mu            sync.Mutex
	summaryCalls  int
	subscribers   []chan schemas.OrderStatus
	cancelled     int
	subscribedSig chan struct{} // receives once per Subscribe
}

func newFakeViews() *fakeViews {
	return &fakeViews{statuses: map[string]schemas.OrderStatus{}, subscribedSig: make(chan struct{}, 16)}
}

func (f *fakeViews) Ready() bool { return !f.notReady }

func (f *fakeViews) Status(id string) (schemas.OrderStatus, bool, error) {
	if f.panics {
		panic("fake views: secret internal detail")
	}
	st, ok := f.statuses[id]
	return st, ok, f.err
}

func (f *fakeViews) Summary(recent int) (views.Summary, error) {
	f.mu.Lock()
	f.summaryCalls++
	f.mu.Unlock()
	return f.summary, f.err
}

func (f *fakeViews) ListReturns(limit int) ([]views.OrderReturn, error) {
	return f.returns[:min(limit, len(f.returns))], f.err
}

func (f *fakeViews) ListStock(limit int) ([]views.Stock, error) {
	return f.stock[:min(limit, len(f.stock))], f.err
}

func (f *fakeViews) Subscribe() (<-chan schemas.OrderStatus, func()) {
	ch := make(chan schemas.OrderStatus, 8)
	f.mu.Lock()
	f.subscribers = append(f.subscribers, ch)
	f.mu.Unlock()
	f.subscribedSig <- struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			f.cancelled++
			f.mu.Unlock()
		})
	}
}

func (f *fakeViews) publish(st schemas.OrderStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subscribers {
		ch <- st
	}
}

func (f *fakeViews) cancelledCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancelled
}

// fakeCluster answers from fixed data and records replays.
type fakeCluster struct {
	scans       map[string]keyScan // by topic; missing topics are unknown
	scanSince   time.Time
	committedBy map[string]map[string]map[int32]int64 // group → topic → partition → next offset
	dead        map[string]deadLetterStats
	deadErr     error
	vers        []reprocess.VersionInfo
	replayed    []string
	replayErr   error

	mu sync.Mutex
}

func (c *fakeCluster) scanKey(_ context.Context, topic, key string, since time.Time, _ int) (keyScan, error) {
	c.mu.Lock()
	c.scanSince = since
	c.mu.Unlock()
	s, ok := c.scans[topic]
	if !ok {
		return keyScan{}, errUnknownTopic
	}
	return s, nil
}

func (c *fakeCluster) committed(_ context.Context, group string, parts map[string][]int32) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for topic, ps := range parts {
		out[topic] = map[int32]int64{}
		for _, p := range ps {
			off, ok := c.committedBy[group][topic][p]
			if !ok {
				off = -1
			}
			out[topic][p] = off
		}
	}
	return out, nil
}

func (c *fakeCluster) deadLetters(_ context.Context, topic string, _ int) (deadLetterStats, error) {
	if c.deadErr != nil {
		return deadLetterStats{}, c.deadErr
	}
	return c.dead[topic], nil
}

func (c *fakeCluster) replay(_ context.Context, topic string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replayed = append(c.replayed, topic)
	if c.replayErr != nil {
		return 2, c.replayErr
	}
	return 7, nil
}

func (c *fakeCluster) versions(context.Context) ([]reprocess.VersionInfo, error) { return c.vers, nil }

func (c *fakeCluster) close() error { return nil }

type fakeMeter struct {
	partitions []lag.Partition
	err        error
}

func (m *fakeMeter) Measure(context.Context, map[string][]string) ([]lag.Partition, error) {
	return m.partitions, m.err
}

// TestMain keeps the handlers' logs (refusals, 503 causes) out of the test output.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

var errBrokerDown = errors.New("dial tcp 10.1.2.3:9092: connection refused")

// newTestBoard is a board over fakes; with a nil authenticator it is open.
func newTestBoard(a auth.Authenticator, v *fakeViews, c *fakeCluster) *Board {
	cfg := Config{Auth: a, Topology: topology.Default(), LagSLO: 30 * time.Second}
	if v != nil {
		cfg.Views = v
	}
	b := New(cfg)
	if c != nil {
		b.cluster = c
	}
	return b
}
