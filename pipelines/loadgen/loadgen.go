// Package loadgen places orders through orderflow's HTTP API with a deterministic mix that
// exercises every path (shipped, payment declined, out of stock, contention on a scarce SKU),
// waits until each order is terminal, and reports counts and latencies.
//
// Consumes: the API. Keeps: per-order results in memory. Emits: a summary.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"

	"github.com/orderflow/orderflow/processors/payments"
)

// SKUs the mix uses.
const (
	SkuScarce = "SKU-SCARCE"
	SkuGone   = "SKU-GONE"
)

// Config of a load run.
type Config struct {
	API         string        // base URL, e.g. http://localhost:8080
	Orders      int           // number of orders
	Rate        float64       // orders per second (0: as fast as Concurrency allows)
	Concurrency int           // requests in flight
	Seed        bool          // set the mix's stock first
	Wait        time.Duration // how long each order may take to become terminal
	Progress    io.Writer     // progress bar destination (nil: none)
	HTTP        *http.Client
	// OpenLoop places orders without waiting for each to finish (at Rate, or as fast as
	// Concurrency allows): the load does not slow down when the pipeline does, so it can exceed
	// the pipeline's capacity. Waiters long-poll the placed orders until terminal.
	OpenLoop bool
	Waiters  int // concurrent long polls in open-loop mode (default 64)
	// MetricsURL, when set, is scraped every 250 ms during the run (lag, RSS); the figures land
	// in Result.Pressure.
	MetricsURL string
	// Placer places the orders (default: POST to API). Stock seeding and waiting use the API.
	Placer Placer
	// Token is sent as "Authorization: Bearer <token>" on every request to the API (it needs the
	// operations scope: the mix places orders for many customers and sets stock).
	Token string
	// Retry is how long a request that got no answer or a 5xx is tried again, as a client of an
	// API in the middle of a failure would (0: not retried). Every order is placed with an
	// Idempotency-Key, so a POST sent again after its answer was lost places it once.
	Retry time.Duration
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// Order is one planned request.
type Order struct {
	CustomerID string `json:"customer_id"`
	Currency   string `json:"currency"`
	Items      []Item `json:"items"`
	// Key is the request's Idempotency-Key (Run sets one per order of the run).
	Key string `json:"-"`
}

// Item is one line of a request.
type Item struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_cents"`
}

// Stock returns the stock the mix expects for n orders: plenty of SKU-1..4, one scarce SKU with
// a quarter as many units as orders wanting it, and one SKU with none.
func Stock(n int) map[string]int64 {
	return map[string]int64{"SKU-1": 1_000_000, "SKU-2": 1_000_000, "SKU-3": 1_000_000, "SKU-4": 1_000_000,
		SkuScarce: int64(max(1, n/40)), SkuGone: 0}
}

// Mix returns order i of the deterministic mix: 70% ordinary (shipped), 5% denied customers,
// 5% over the payment limit, 10% on the scarce SKU (contention), 5% on an SKU with no stock, 5%
// with one good and one missing line (all-or-nothing reservation).
func Mix(i int) Order {
	c := fmt.Sprintf("c-%d", i)
	sku := fmt.Sprintf("SKU-%d", 1+i%4)
	switch i % 20 {
	case 14:
		return Order{CustomerID: payments.DenyPrefix + c, Currency: "EUR", Items: []Item{{sku, 1, 1999}}} // declined: a denied customer
	case 15:
		return Order{CustomerID: c, Currency: "EUR", Items: []Item{{sku, 1, payments.LimitMinor + 100_000}}} // declined: over the limit
	case 16, 17:
		return Order{CustomerID: c, Currency: "EUR", Items: []Item{{SkuScarce, 1, 2500}}}
	case 18:
		return Order{CustomerID: c, Currency: "EUR", Items: []Item{{SkuGone, 1, 999}}}
	case 19:
		return Order{CustomerID: c, Currency: "EUR", Items: []Item{{sku, 2, 999}, {SkuGone, 1, 999}}}
	default:
		return Order{CustomerID: c, Currency: "EUR", Items: []Item{{sku, 1 + i%3, 999 + int64(i%5)*1000}, {fmt.Sprintf("SKU-%d", 1+(i+1)%4), 1, 499}}}
	}
}

// Result of a load run.
type Result struct {
	Placed    int
	Failed    int            // POST failed or the order did not become terminal in time
	Stuck     []string       // ids of placed orders that did not become terminal in time (the first 50)
	Outcomes  map[string]int // "SHIPPED", "CANCELLED/PAYMENT_DECLINED", …
	Latencies []time.Duration
	Elapsed   time.Duration // first POST to last terminal status
	LoadTime  time.Duration // first POST to last POST answered
	Samples   []Sample      // metrics scraped during the run (Config.MetricsURL)
	Pressure  Pressure      // summary of Samples
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of the POST → terminal latencies.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(idx, 0), len(s)-1)]
}

// Summary writes the outcome table.
func (r Result) Summary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTCOME\tORDERS")
	keys := make([]string, 0, len(r.Outcomes))
	for k := range r.Outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%d\n", k, r.Outcomes[k])
	}
	fmt.Fprintf(tw, "total\t%d\n", r.Placed)
	tw.Flush()
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Placed) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "\nelapsed (first order placed → last terminal): %s  (%.0f orders/s)\n", r.Elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "placed → terminal: p50 %s  p90 %s  p99 %s  max %s\n", r.Percentile(50).Round(time.Millisecond),
		r.Percentile(90).Round(time.Millisecond), r.Percentile(99).Round(time.Millisecond), r.Percentile(100).Round(time.Millisecond))
	if r.LoadTime > 0 {
		fmt.Fprintf(w, "placing: %s  (%.0f orders/s offered)\n", r.LoadTime.Round(time.Millisecond), float64(r.Placed)/r.LoadTime.Seconds())
	}
	if p := r.Pressure; p.SampleCount > 0 {
		drain := "not drained while watched"
		if !p.DrainedAt.IsZero() {
			drain = p.DrainTime.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "peak lag: %d messages (oldest %.1fs)  drain after the last order: %s  peak RSS: %d MiB  peak heap: %d MiB\n",
			p.PeakLag, p.PeakLagAge, drain, p.PeakRSS>>20, p.PeakHeap>>20)
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "FAILED: %d orders did not complete\n", r.Failed)
	}
}

// Run seeds stock (optionally), places cfg.Orders orders and waits for each to be terminal.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	cfg.API = strings.TrimRight(cfg.API, "/")
	if cfg.Placer == nil {
		cfg.Placer = apiPlacer{cfg.HTTP, cfg.API, cfg.Retry}
	}
	run := uuid.NewString()
	if cfg.Seed {
		if err := seed(ctx, cfg, Stock(cfg.Orders)); err != nil {
			return Result{}, err
		}
	}
	var bar *progressbar.ProgressBar
	if cfg.Progress != nil {
		bar = progressbar.NewOptions(cfg.Orders, progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription("orders terminal"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("orders"), progressbar.OptionThrottle(200*time.Millisecond))
	}

	res := Result{Outcomes: map[string]int{}}
	var watcher *Watcher
	if cfg.MetricsURL != "" {
		watcher = Watch(ctx, cfg.HTTP, cfg.MetricsURL, 250*time.Millisecond)
	}
	var mu sync.Mutex
	intended := make([]time.Time, cfg.Orders)
	start := time.Now()
	var last, lastPlaced time.Time
	finish := func(i int, id, outcome string, err error) {
		done := time.Now()
		mu.Lock()
		if err != nil {
			res.Failed++
			res.Outcomes["FAILED: "+shortErr(err)]++
			if id != "" && len(res.Stuck) < 50 {
				res.Stuck = append(res.Stuck, id)
			}
		} else {
			res.Outcomes[outcome]++
			res.Latencies = append(res.Latencies, done.Sub(intended[i]))
			last = later(last, done)
		}
		mu.Unlock()
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	placed := func() {
		mu.Lock()
		res.Placed++
		lastPlaced = later(lastPlaced, time.Now())
		mu.Unlock()
	}

	type placedOrder struct {
		i  int
		id string
	}
	jobs := make(chan int)
	toWait := make(chan placedOrder, cfg.Orders) // open loop: never blocks a sender
	var senders, waiters sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := range jobs {
				o := Mix(i)
				o.Key = fmt.Sprintf("%s-%d", run, i)
				id, err := cfg.Placer.Place(ctx, o)
				placed()
				switch {
				case err != nil:
					finish(i, "", "", err)
				case cfg.OpenLoop:
					toWait <- placedOrder{i, id}
				default:
					outcome, err := waitTerminal(ctx, cfg, id)
					finish(i, id, outcome, err)
				}
			}
		}()
	}
	if cfg.OpenLoop {
		if cfg.Waiters <= 0 {
			cfg.Waiters = 64
		}
		for w := 0; w < cfg.Waiters; w++ {
			waiters.Add(1)
			go func() {
				defer waiters.Done()
				for o := range toWait {
					outcome, err := waitTerminal(ctx, cfg, o.id)
					finish(o.i, o.id, outcome, err)
				}
			}()
		}
	}
	Pace(ctx, start, cfg.Orders, cfg.Rate, func(i int, at time.Time) {
		intended[i] = at
		jobs <- i
	})
	close(jobs)
	senders.Wait()
	res.LoadTime = lastPlaced.Sub(start)
	close(toWait)
	waiters.Wait()
	if bar != nil {
		_ = bar.Finish()
	}
	res.Elapsed = last.Sub(start)
	if watcher != nil {
		// keep watching until the lag has drained (or a minute has passed), so the drain time is seen
		drainDeadline := time.Now().Add(time.Minute)
		for ctx.Err() == nil && time.Now().Before(drainDeadline) {
			if s := watcher.Samples(); len(s) > 0 && s[len(s)-1].LagMessages == 0 && s[len(s)-1].At.After(last) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		res.Samples = watcher.Stop()
		res.Pressure = Summarise(res.Samples, lastPlaced)
	}
	return res, ctx.Err()
}

// withDefaults fills in the HTTP client (with the bearer token), the concurrency and the wait.
func (cfg Config) withDefaults() Config {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 90 * time.Second}
	}
	if cfg.Token != "" {
		withToken := *cfg.HTTP
		next := withToken.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		withToken.Transport = bearer{token: cfg.Token, next: next}
		cfg.HTTP = &withToken
		cfg.Token = "" // in the transport now: a second withDefaults must not wrap it twice
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Wait <= 0 {
		cfg.Wait = time.Minute
	}
	return cfg
}

// Pace calls send(k, intended) for k in [0, n), each at its intended time start + k/rate (rate 0:
// one after the other, intended = now), until ctx ends. Sends follow the schedule, not the
// previous send's completion, and latency counts from the intended time, so a stall shows in the
// figures instead of delaying later sends (coordinated omission).
func Pace(ctx context.Context, start time.Time, n int, rate float64, send func(k int, intended time.Time)) {
	for k := 0; k < n; k++ {
		at := time.Now()
		if rate > 0 {
			at = start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		send(k, at)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// waitTerminal long-polls until the order is terminal; it returns "STATUS" or
// "CANCELLED/REASON".
func waitTerminal(ctx context.Context, cfg Config, orderID string) (string, error) {
	deadline := time.Now().Add(cfg.Wait)
	for {
		var st struct {
			Status   string  `json:"status"`
			Reason   *string `json:"reason"`
			TimedOut bool    `json:"timed_out"`
		}
		// the API caps one long poll at 60s: poll again until cfg.Wait has passed
		wait := min(time.Until(deadline), 50*time.Second).Round(time.Millisecond)
		url := fmt.Sprintf("%s/orders/%s?wait_for=terminal&timeout=%s", cfg.API, orderID, max(wait, 0))
		if code, err := retrying(ctx, cfg.Retry, func() (int, error) { return call(ctx, cfg.HTTP, http.MethodGet, url, nil, &st) }); err != nil || code != http.StatusOK {
			return "", fmt.Errorf("GET order: %d %v", code, err)
		}
		switch {
		case !st.TimedOut && st.Reason != nil:
			return st.Status + "/" + *st.Reason, nil
		case !st.TimedOut:
			return st.Status, nil
		case time.Now().After(deadline):
			return "", fmt.Errorf("not terminal after %s (status %s)", cfg.Wait, st.Status)
		}
	}
}

func seed(ctx context.Context, cfg Config, stock map[string]int64) error {
	for sku, n := range stock {
		if code, err := call(ctx, cfg.HTTP, http.MethodPut, cfg.API+"/inventory/"+sku, map[string]int64{"available": n}, nil); err != nil || code != http.StatusAccepted {
			return fmt.Errorf("seed %s: %d %v", sku, code, err)
		}
	}
	deadline := time.Now().Add(cfg.Wait)
	for sku, n := range stock {
		for {
			var st struct {
				Available int64 `json:"available"`
				Reserved  int64 `json:"reserved"`
			}
			if _, err := call(ctx, cfg.HTTP, http.MethodGet, cfg.API+"/inventory/"+sku, nil, &st); err == nil && st.Available+st.Reserved == n {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("seed %s: stock not visible after %s", sku, cfg.Wait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// call sends one request and decodes a 2xx answer into out. An answer 429 (the API's rate limit)
// is retried after the Retry-After it names (at most 5 s each time) until ctx ends.
func call(ctx context.Context, c *http.Client, method, url string, body, out any) (int, error) {
	return callWithKey(ctx, c, method, url, "", body, out)
}

// callWithKey is call with an Idempotency-Key header (none when key is empty).
func callWithKey(ctx context.Context, c *http.Client, method, url, key string, body, out any) (int, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		payload = b
	}
	for {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			resp.Body.Close()
			wait := time.Second
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
				wait = min(time.Duration(n)*time.Second, 5*time.Second)
			}
			select {
			case <-ctx.Done():
				return http.StatusTooManyRequests, ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode/100 == 2 {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
			}
		}
		return resp.StatusCode, nil
	}
}

// retrying calls do again, with a growing pause (50 ms doubling to 1 s), while it gets no answer
// or a 5xx, for at most budget; the last result is returned.
func retrying(ctx context.Context, budget time.Duration, do func() (int, error)) (int, error) {
	deadline := time.Now().Add(budget)
	pause := 50 * time.Millisecond
	for {
		code, err := do()
		worth := (err != nil && ctx.Err() == nil) || code >= 500
		if !worth || budget <= 0 || time.Now().Add(pause).After(deadline) {
			return code, err
		}
		select {
		case <-ctx.Done():
			return code, err
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// Expected returns what n orders of the mix must end as when every order completes, whatever
// the arrival order, crashes or redeliveries: the count per outcome and the units shipped per SKU.
// Only which scarce-SKU orders win is left to the race; how many win is fixed by its stock.
func Expected(n int) (outcomes map[string]int, shipped map[string]int64) {
	outcomes, shipped = map[string]int{}, map[string]int64{}
	scarce := 0
	for i := 0; i < n; i++ {
		switch i % 20 {
		case 14, 15:
			outcomes["CANCELLED/PAYMENT_DECLINED"]++
		case 16, 17:
			scarce++
		case 18, 19:
			outcomes["CANCELLED/OUT_OF_STOCK"]++
		default:
			outcomes["SHIPPED"]++
			for _, it := range Mix(i).Items {
				shipped[it.SKU] += int64(it.Quantity)
			}
		}
	}
	won := min(int64(scarce), Stock(n)[SkuScarce])
	outcomes["SHIPPED"] += int(won)
	outcomes["CANCELLED/OUT_OF_STOCK"] += scarce - int(won)
	shipped[SkuScarce] = won
	return outcomes, shipped
}
