// Package board is the backend of orderflow's live operations board: a static page (embedded
// from assets/, written in plain HTML/CSS/JS) and the JSON endpoints it polls, under /ops/, plus
// /whoami. Each handler's comment gives its path and answer.
//
// Consumes: the views (status counts and recent orders, returns, stock, and every status change
// through views.Subscribe), Kafka (an order's records on the event topics, consumer groups'
// committed offsets, dead-letter topics, table versions), the lag meter, and optionally the
// outbox's replication slot. Keeps: a ring of lag samples (one every LagSampleInterval for
// LagHistory, bounded), short-lived caches of each panel's answer (a board polled every 2 s by
// several people reads each table at most about once a second), and one lazily opened Kafka
// client. Emits: JSON answers, a server-sent event per status change on /ops/stream, and, on an
// operator's request, the replay of a dead-letter topic (deadletter.Replay).
//
// Auth: /ops/* needs a bearer token with the operations scope (401 without a valid token, 403
// without the scope), /whoami any valid token, the page and its assets none. With a nil
// authenticator (loopback development) everything is open. Every error is JSON: a 4xx with a
// message, or a 503 with a request id whose details are only in the log.
package board

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/httpjson"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/pipelines/catalog"
	"github.com/orderflow/orderflow/pipelines/views"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Views is what the board reads of the views; *views.Views implements it.
type Views interface {
	Ready() bool
	Status(orderID string) (schemas.OrderStatus, bool, error)
	Summary(recent int) (views.Summary, error)
	ListReturns(limit int) ([]views.OrderReturn, error)
	ListStock(limit int) ([]views.Stock, error)
	Subscribe() (updates <-chan schemas.OrderStatus, cancel func())
}

// LagMeter measures consumer lag; *lag.Meter implements it.
type LagMeter interface {
	Measure(ctx context.Context, groups map[string][]string) ([]lag.Partition, error)
}

// Config is what the board reads from.
type Config struct {
	Views Views              // nil: the order panels answer 503
	Auth  auth.Authenticator // nil: open (loopback development only)
	// Topology names the event topics the timeline scans, the dead-letter topics (the only ones
	// replay accepts) and the consumer groups, with the serving table versions loaded.
	Topology topology.Topology
	// Endpoints.Brokers is the Kafka the board reads (timeline, dead letters, table versions)
	// and replays to.
	Endpoints endpoints.Endpoints
	Meter     LagMeter      // nil: no lag panel
	LagSLO    time.Duration // 0: lag.DefaultSLO
	Slot      SlotReader    // nil: no slot panel ("slot": null)
}

// Board serves the board (it is an http.Handler) and samples lag while Run runs.
type Board struct {
	cfg     Config
	handler http.Handler
	cluster cluster

	groupsByTopic map[string][]string // event topic → the consumer groups reading it, sorted
	deadLetters   map[string]bool     // the topology's dead-letter topics

	lag       *lagSampler
	streams   chan struct{} // a slot per open /ops/stream (MaxStreams)
	replaying chan struct{} // one replay at a time
	pingEvery time.Duration

	summaryCache    cached[views.Summary]
	returnsCache    cached[[]views.OrderReturn]
	stockCache      cached[[]views.Stock]
	deadLetterCache cached[[]deadLetterTopicJSON]
	versionsCache   cached[[]versionJSON]
	slotCache       cached[*Slot]
}

// The views and the lag meter the runner hands over.
var (
	_ Views    = (*views.Views)(nil)
	_ LagMeter = (*lag.Meter)(nil)
)

// Cache lifetimes of the panels' answers.
const (
	viewsCacheTTL       = time.Second      // summary, returns, inventory (each a scan of a view)
	deadLetterCacheTTL  = 5 * time.Second  // offsets of every partition of every DLQ topic
	versionsCacheTTL    = 30 * time.Second // a topic listing
	slotCacheTTL        = 5 * time.Second  // one query
	healthPartTimeout   = 10 * time.Second // each part of /ops/health
	timelineTimeout     = 20 * time.Second
	replayTimeout       = 60 * time.Second // below runner's 75 s write timeout
	defaultPingInterval = 15 * time.Second
)

// MaxStreams bounds the open /ops/stream connections; one more is answered 503.
const MaxStreams = 128

// New returns the board for cfg; nothing connects until a request (or Run) needs it.
func New(cfg Config) *Board {
	if cfg.LagSLO <= 0 {
		cfg.LagSLO = lag.DefaultSLO
	}
	b := &Board{
		cfg:             cfg,
		cluster:         newKafkaCluster(cfg.Endpoints, cfg.Topology),
		groupsByTopic:   map[string][]string{},
		deadLetters:     map[string]bool{},
		streams:         make(chan struct{}, MaxStreams),
		replaying:       make(chan struct{}, 1),
		pingEvery:       defaultPingInterval,
		summaryCache:    newCached[views.Summary](viewsCacheTTL),
		returnsCache:    newCached[[]views.OrderReturn](viewsCacheTTL),
		stockCache:      newCached[[]views.Stock](viewsCacheTTL),
		deadLetterCache: newCached[[]deadLetterTopicJSON](deadLetterCacheTTL),
		versionsCache:   newCached[[]versionJSON](versionsCacheTTL),
		slotCache:       newCached[*Slot](slotCacheTTL),
	}
	inputs := catalog.Inputs(cfg.Topology)
	for group, topics := range inputs {
		for _, tp := range topics {
			b.groupsByTopic[tp] = append(b.groupsByTopic[tp], group)
		}
	}
	for _, groups := range b.groupsByTopic {
		slices.Sort(groups)
	}
	for _, dlq := range cfg.Topology.DeadLetterTopics() {
		b.deadLetters[string(dlq)] = true
	}
	b.lag = newLagSampler(cfg.Meter, inputs, cfg.LagSLO)
	b.handler = b.routes()
	return b
}

// ServeHTTP implements http.Handler.
func (b *Board) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.handler.ServeHTTP(w, r) }

// Run samples lag every LagSampleInterval until ctx ends, then closes the board's Kafka client.
// Without Run the board still answers, measuring lag when asked (and keeping no history
// between requests further apart than the interval).
func (b *Board) Run(ctx context.Context) error {
	defer func() {
		if err := b.cluster.close(); err != nil {
			slog.Warn("board: closing the Kafka client", "err", err)
		}
	}()
	b.lag.run(ctx)
	return nil
}

func (b *Board) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /board", serveIndex)
	mux.HandleFunc("GET /board/{$}", serveIndex)
	mux.HandleFunc("GET /board/assets/{file...}", serveAsset)
	mux.Handle("GET /whoami", b.authenticated(http.HandlerFunc(b.whoami)))
	ops := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, b.authenticated(requireOperations(h))) }
	ops("GET /ops/summary", b.summary)
	ops("GET /ops/stream", b.stream)
	ops("GET /ops/orders/{id}/timeline", b.timeline)
	ops("GET /ops/returns", b.returns)
	ops("GET /ops/inventory", b.inventory)
	ops("GET /ops/health", b.health)
	ops("POST /ops/dead-letters/replay", b.replay)
	return recoverJSON(httpjson.ExactRoutes(mux, true, writeError))
}
