package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// ReturnOutcome is how one demo return ended (or where it waits).
type ReturnOutcome struct {
	ReturnID    string
	Handling    string // what the demo did: received ok, received damaged, nothing
	Status      string
	RefundMinor int64
	WaitingFor  string
	History     []string
}

type returnView struct {
	ReturnID    string `json:"return_id"`
	Status      string `json:"status"`
	RefundMinor int64  `json:"refund_minor"`
	WaitingFor  string `json:"waiting_for"`
	History     []struct {
		Status string `json:"status"`
	} `json:"history"`
}

// Returns places n orders of SKU-1 and SKU-2 (stock seeded by Run), waits until they shipped,
// asks to return part of each, and drives the returns through the API as a warehouse would: the
// first of every three parcels arrives in good condition (the return is refunded, restocked and
// COMPLETED), the second damaged (REJECTED at inspection), the third never (it waits for its
// parcel until the return window ends). It returns each return's outcome.
func Returns(ctx context.Context, cfg Config, n int) ([]ReturnOutcome, error) {
	cfg = cfg.withDefaults()
	cfg.API = strings.TrimRight(cfg.API, "/")
	var out []ReturnOutcome
	for i := range n {
		var placed struct {
			OrderID string `json:"order_id"`
		}
		order := Order{CustomerID: fmt.Sprintf("c-return-%d", i), Currency: "EUR", Items: []Item{{"SKU-1", 2, 1299}, {"SKU-2", 1, 499}}}
		if code, err := call(ctx, cfg.HTTP, http.MethodPost, cfg.API+"/orders", order, &placed); err != nil || code != http.StatusCreated {
			return out, fmt.Errorf("place order: %d %v", code, err)
		}
		status, err := waitTerminal(ctx, cfg, placed.OrderID)
		if err != nil || status != "SHIPPED" {
			return out, fmt.Errorf("order %s: %s %v, want SHIPPED", placed.OrderID, status, err)
		}
		var ret returnView
		body := map[string]any{"lines": []map[string]any{{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}}, "reason": "demo"}
		if code, err := callWithKey(ctx, cfg.HTTP, http.MethodPost, cfg.API+"/orders/"+placed.OrderID+"/returns", fmt.Sprintf("demo-%d", i), body, &ret); err != nil || code != http.StatusAccepted {
			return out, fmt.Errorf("request return of %s: %d %v", placed.OrderID, code, err)
		}
		if _, err := waitReturn(ctx, cfg, ret.ReturnID, func(r returnView) bool { return r.Status == "LABEL_ISSUED" }); err != nil {
			return out, err
		}
		o := ReturnOutcome{ReturnID: ret.ReturnID, Handling: "no parcel"}
		if condition := []string{"ok", "damaged", ""}[i%3]; condition != "" {
			o.Handling = "parcel " + condition
			if code, err := call(ctx, cfg.HTTP, http.MethodPost, cfg.API+"/returns/"+ret.ReturnID+"/received", map[string]string{"condition": condition}, nil); err != nil || code != http.StatusAccepted {
				return out, fmt.Errorf("receive return %s: %d %v", ret.ReturnID, code, err)
			}
			if ret, err = waitReturn(ctx, cfg, ret.ReturnID, func(r returnView) bool { return r.WaitingFor == "" }); err != nil {
				return out, err
			}
		} else if ret, err = waitReturn(ctx, cfg, ret.ReturnID, func(returnView) bool { return true }); err != nil {
			return out, err
		}
		o.Status, o.RefundMinor, o.WaitingFor = ret.Status, ret.RefundMinor, ret.WaitingFor
		for _, h := range ret.History {
			o.History = append(o.History, h.Status)
		}
		out = append(out, o)
	}
	return out, nil
}

// PrintReturns writes the outcomes as a table.
func PrintReturns(w io.Writer, outcomes []ReturnOutcome) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "return\tdemo did\tstatus\trefund (cents)\thistory / waiting for")
	for _, o := range outcomes {
		detail := strings.Join(o.History, " → ")
		if o.WaitingFor != "" {
			detail += "; waits for " + o.WaitingFor
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", o.ReturnID, o.Handling, o.Status, o.RefundMinor, detail)
	}
	tw.Flush()
}

// waitReturn polls the return until done accepts it (the API has no long poll for returns).
func waitReturn(ctx context.Context, cfg Config, id string, done func(returnView) bool) (returnView, error) {
	deadline := time.Now().Add(cfg.Wait)
	for {
		var r returnView
		code, err := call(ctx, cfg.HTTP, http.MethodGet, cfg.API+"/returns/"+id, nil, &r)
		if err == nil && code == http.StatusOK && done(r) {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("return %s: status %s after %s (%d %v)", id, r.Status, cfg.Wait, code, err)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
