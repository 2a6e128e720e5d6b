package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestExpectedMatchesTheDemoMix(t *testing.T) {
	out, shipped := Expected(1000)
	if fmt.Sprint(out) != "map[CANCELLED/OUT_OF_STOCK:175 CANCELLED/PAYMENT_DECLINED:100 SHIPPED:725]" {
		t.Errorf("outcomes %v", out)
	}
	if shipped[SkuScarce] != 25 || shipped[SkuGone] != 0 {
		t.Errorf("shipped %v", shipped)
	}
}

// A POST that gets a 503 or no answer is sent again with the same Idempotency-Key until it is
// answered; the retry budget bounds it.
func TestPlacingRetriesWithTheSameIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close() // no answer at all
		default:
			w.WriteHeader(http.StatusOK) // the order of an earlier try
			w.Write([]byte(`{"order_id":"o-1"}`))
		}
	}))
	defer srv.Close()
	p := apiPlacer{client: srv.Client(), base: srv.URL, retry: 10 * time.Second}
	id, err := p.Place(context.Background(), Order{CustomerID: "c", Currency: "EUR", Key: "run-7"})
	if err != nil || id != "o-1" {
		t.Fatalf("Place = %q, %v; want o-1", id, err)
	}
	if !slices.Equal(keys, []string{"run-7", "run-7", "run-7"}) {
		t.Errorf("keys sent %q, want run-7 three times", keys)
	}

	p.retry = 0
	keys = nil
	if _, err := p.Place(context.Background(), Order{Key: "k"}); err == nil || len(keys) != 1 {
		t.Errorf("without a retry budget: err %v after %d tries; want an error after 1", err, len(keys))
	}
}
