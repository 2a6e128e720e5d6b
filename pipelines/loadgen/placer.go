package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/schemas/codec"
)

// Placer places one order and returns its id.
type Placer interface {
	Place(ctx context.Context, o Order) (string, error)
}

// apiPlacer POSTs orders to the API.
type apiPlacer struct {
	client *http.Client
	base   string
	retry  time.Duration // see Config.Retry
}

func (p apiPlacer) Place(ctx context.Context, o Order) (string, error) {
	var placed struct {
		OrderID string `json:"order_id"`
	}
	code, err := retrying(ctx, p.retry, func() (int, error) {
		return callWithKey(ctx, p.client, http.MethodPost, p.base+"/orders", o.Key, o, &placed)
	})
	// 200: the key's order was placed by an earlier try whose answer was lost
	if err != nil || (code != http.StatusCreated && code != http.StatusOK) {
		return "", fmt.Errorf("POST /orders: %d %v", code, err)
	}
	return placed.OrderID, nil
}

// StorePlacer writes orders straight into PostgreSQL (order rows and outbox event in one
// transaction, as the API does), skipping HTTP: the load a batch importer or another service
// sharing the database would put on the pipeline.
type StorePlacer struct{ Store *orders.Store }

// Place implements Placer.
func (p StorePlacer) Place(ctx context.Context, o Order) (string, error) {
	req := orders.NewOrder{CustomerID: o.CustomerID, Currency: o.Currency}
	for _, it := range o.Items {
		req.Items = append(req.Items, orders.Item{SKU: it.SKU, Quantity: int64(it.Quantity), UnitPriceMinor: it.UnitPriceMinor})
	}
	placed, err := p.Store.Place(ctx, req, "", "")
	if err != nil {
		return "", err
	}
	return placed.OrderID, nil
}

// NewStorePlacer connects a StorePlacer to the order service's tables in schema, with a pool
// sized for concurrency requests in flight; close releases the pool.
func NewStorePlacer(ctx context.Context, ep endpoints.Endpoints, schema string, concurrency int) (p StorePlacer, close func(), err error) {
	pc, err := pgxpool.ParseConfig(ep.PGDSN)
	if err != nil {
		return p, nil, fmt.Errorf("postgres: %w", err)
	}
	pc.MaxConns = int32(max(4, concurrency))
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return p, nil, fmt.Errorf("postgres: %w", err)
	}
	serde, err := codec.New(codec.NewSRClient(ep.RegistryURL, codec.WithBasicAuth(ep.RegistryCredentials())))
	if err != nil {
		pool.Close()
		return p, nil, err
	}
	return StorePlacer{Store: orders.NewStore(pool, serde, schema)}, pool.Close, nil
}
