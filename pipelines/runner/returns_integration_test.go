//go:build integration

package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/schemas/codec"
)

type returnLine struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

type returnReq struct {
	Lines  []returnLine `json:"lines"`
	Reason string       `json:"reason"`
}

type returnResp struct {
	ReturnID    string `json:"return_id"`
	OrderID     string `json:"order_id"`
	Status      string `json:"status"`
	RefundMinor int64  `json:"refund_minor"`
	WaitingFor  string `json:"waiting_for"`
	Error       string `json:"error"`
	History     []struct {
		Status string    `json:"status"`
		At     time.Time `json:"at"`
	} `json:"history"`
}

func (r returnResp) steps() []string {
	var out []string
	for _, h := range r.History {
		out = append(out, h.Status)
	}
	return out
}

// requestReturn POSTs a return with an Idempotency-Key and returns the status code and answer.
func (p *pipeline) requestReturn(orderID, key string, body returnReq) (int, returnResp) {
	p.t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", p.base+"/orders/"+orderID+"/returns", bytes.NewReader(data))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("POST return: %v", err)
	}
	defer resp.Body.Close()
	var out returnResp
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitReturn waits until the return's status is want and nothing is left to wait for.
func (p *pipeline) waitReturn(id, want string, within time.Duration) returnResp {
	p.t.Helper()
	var r returnResp
	ctx := itest.Context(p.t, within)
	if err := itest.Eventually(ctx, func() error {
		r = returnResp{}
		p.call("GET", "/returns/"+id, nil, &r)
		if r.Status != want || r.WaitingFor != "" {
			return fmt.Errorf("status %s waiting for %q", r.Status, r.WaitingFor)
		}
		return nil
	}); err != nil {
		p.t.Fatalf("return %s: %v; want %s (history %v)", id, err, want, r.steps())
	}
	return r
}

// placeShipped places an order of 2×R1 at 1000 and 1×R2 at 250 and waits until it shipped.
func (p *pipeline) placeShipped(customer string) string {
	p.t.Helper()
	var created orderResp
	if code := p.call("POST", "/orders", orderReq{customer, "EUR", []item{{"R1", 2, 1000}, {"R2", 1, 250}}}, &created); code != 201 {
		p.t.Fatalf("place order: %d", code)
	}
	var final orderResp
	p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final)
	if final.Status != "SHIPPED" {
		p.t.Fatalf("order %s: %s, want SHIPPED", created.OrderID, final.Status)
	}
	return created.OrderID
}

// replies reads the returns reply channel: per return, the distinct event ids of each answer type.
func replies(t *testing.T, p *pipeline) map[string]map[string][]string {
	serde, err := codec.New(codec.NewSRClient(p.cfg.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = itest.ConsumeUntil(ctx, p.cfg, string(p.topo.ReturnReplies()), func(m *sarama.ConsumerMessage) bool {
		ev, err := serde.Decode(m.Value)
		if err != nil {
			t.Errorf("reply at offset %d: %v", m.Offset, err)
			return false
		}
		var id string
		switch e := ev.(type) {
		case schemas.ReturnRefunded:
			id = e.ReturnID
		case schemas.ReturnRestocked:
			id = e.ReturnID + "/" + e.SKU
		case schemas.ReturnLabelIssued:
			id = e.ReturnID
		case schemas.ReturnLabelVoided:
			id = e.ReturnID
		}
		typ := ev.AvroName()
		if out[id] == nil {
			out[id] = map[string][]string{}
		}
		eid := ev.(schemas.Event).Metadata().EventID
		if !slices.Contains(out[id][typ], eid) {
			out[id][typ] = append(out[id][typ], eid)
		}
		return false
	})
	return out
}

// Returns on the real stack: one completed (refund and restocked units asserted), one rejected
// at inspection, one expired with its label voided — the expiry falls due while no processor runs
// and fires after the restart — and bad requests answered 4xx with a message.
func TestIntegrationReturnsAreOrchestrated(t *testing.T) {
	const window = 25 * time.Second
	t.Setenv("ORDERFLOW_RETURN_WINDOW", window.String())
	t.Setenv("ORDERFLOW_RETURN_RETRY", "2s")
	p := deploy(t)
	running := p.start(runner.Config{Processors: topology.Processors(), API: true})
	for _, sku := range []string{"R1", "R2"} {
		if code := p.call("PUT", "/inventory/"+sku, map[string]int64{"available": 10}, nil); code != 202 {
			t.Fatalf("set stock: %d", code)
		}
		waitStock(t, p, sku, 10, 0)
	}
	completed, rejected, expired := p.placeShipped("c-ret"), p.placeShipped("c-ret"), p.placeShipped("c-ret")
	waitStock(t, p, "R1", 4, 0)
	waitStock(t, p, "R2", 7, 0)

	// bad input: 4xx with a message
	var unshipped orderResp
	if code := p.call("POST", "/orders", orderReq{"c-ret", "EUR", []item{{"R-NONE", 1, 100}}}, &unshipped); code != 201 {
		t.Fatalf("place order: %d", code)
	}
	p.call("GET", "/orders/"+unshipped.OrderID+"?wait_for=terminal&timeout=60s", nil, &unshipped)
	bad := []struct {
		name, order, key string
		body             returnReq
		want             int
	}{
		{"unshipped order", unshipped.OrderID, "k", returnReq{Lines: []returnLine{{"R-NONE", 1}}}, 409},
		{"unknown order", "00000000-0000-4000-8000-000000000000", "k", returnReq{Lines: []returnLine{{"R1", 1}}}, 404},
		{"too many units", completed, "k", returnReq{Lines: []returnLine{{"R1", 3}}}, 422},
		{"sku not in the order", completed, "k", returnReq{Lines: []returnLine{{"R9", 1}}}, 422},
		{"no idempotency key", completed, "", returnReq{Lines: []returnLine{{"R1", 1}}}, 400},
	}
	for _, c := range bad {
		code, resp := p.requestReturn(c.order, c.key, c.body)
		if code != c.want || resp.Error == "" {
			t.Errorf("%s: %d %q, want %d with a message", c.name, code, resp.Error, c.want)
		}
	}
	var missing returnResp
	if code := p.call("GET", "/returns/"+schemas.ReturnID(completed, "never"), nil, &missing); code != 404 || missing.Error == "" {
		t.Errorf("unknown return id: %d %q, want 404 with a message", code, missing.Error)
	}
	if code := p.call("POST", "/returns/"+schemas.ReturnID(completed, "never")+"/received", map[string]string{"condition": "ok"}, &missing); code != 404 {
		t.Errorf("receipt of an unknown return: %d, want 404", code)
	}

	// three returns, each waiting for its parcel
	ids := map[string]string{}
	for name, c := range map[string]struct {
		order string
		lines []returnLine
	}{
		"completed": {completed, []returnLine{{"R1", 2}, {"R2", 1}}},
		"rejected":  {rejected, []returnLine{{"R1", 1}}},
		"expired":   {expired, []returnLine{{"R2", 1}}},
	} {
		code, resp := p.requestReturn(c.order, "ret-"+name, returnReq{Lines: c.lines, Reason: "test " + name})
		if code != 202 || resp.Status != returns.Requested || resp.ReturnID == "" {
			t.Fatalf("%s: %d %+v, want 202 REQUESTED", name, code, resp)
		}
		if again, resp2 := p.requestReturn(c.order, "ret-"+name, returnReq{Lines: c.lines, Reason: "test " + name}); again != 202 || resp2.ReturnID != resp.ReturnID {
			t.Errorf("%s: a retried request answered %d %s, want 202 with the same return", name, again, resp2.ReturnID)
		}
		ids[name] = resp.ReturnID
	}
	for _, id := range ids {
		p.waitLabel(id)
	}
	if code, resp := p.requestReturn(completed, "ret-more", returnReq{Lines: []returnLine{{"R1", 1}}}); code != 422 {
		t.Errorf("a return beyond what is left: %d %+v, want 422", code, resp)
	}
	if code := p.call("POST", "/returns/"+ids["completed"]+"/received", map[string]string{"condition": "ok"}, nil); code != 202 {
		t.Fatalf("receive ok: %d", code)
	}
	if code := p.call("POST", "/returns/"+ids["rejected"]+"/received", map[string]string{"condition": "damaged"}, nil); code != 202 {
		t.Fatalf("receive damaged: %d", code)
	}
	if code := p.call("POST", "/returns/"+ids["completed"]+"/received", map[string]string{"condition": "new"}, &missing); code != 400 {
		t.Errorf("bad condition: %d, want 400", code)
	}

	done := p.waitReturn(ids["completed"], returns.Completed, time.Minute)
	if done.RefundMinor != 2250 || !slices.Equal(done.steps(), []string{"REQUESTED", "LABEL_ISSUED", "RECEIVED", "INSPECTED", "REFUNDED", "RESTOCKED", "COMPLETED"}) {
		t.Errorf("completed return: refund %d history %v, want 2250 and every step", done.RefundMinor, done.steps())
	}
	waitStock(t, p, "R1", 6, 0) // 2 units back
	waitStock(t, p, "R2", 8, 0) // 1 unit back
	rej := p.waitReturn(ids["rejected"], returns.Rejected, time.Minute)
	if rej.RefundMinor != 0 || !slices.Equal(rej.steps(), []string{"REQUESTED", "LABEL_ISSUED", "RECEIVED", "INSPECTED", "REJECTED"}) {
		t.Errorf("rejected return: refund %d history %v", rej.RefundMinor, rej.steps())
	}

	// the expiry falls due while nothing runs, and fires after the restart
	p.stop(running)
	var pending returnResp
	time.Sleep(3 * time.Second)
	p.start(runner.Config{API: true}) // the API alone: the return is still waiting
	p.call("GET", "/returns/"+ids["expired"], nil, &pending)
	if pending.Status != returns.LabelIssued {
		t.Fatalf("expired return before the window ended: %+v", pending)
	}
	ends := pending.History[len(pending.History)-1].At.Add(window)
	time.Sleep(time.Until(ends.Add(2 * time.Second)))
	p.start(runner.Config{Processors: topology.Processors()})
	exp := p.waitReturn(ids["expired"], returns.Expired, time.Minute)
	if exp.RefundMinor != 0 || !slices.Equal(exp.steps(), []string{"REQUESTED", "LABEL_ISSUED", "EXPIRED", "LABEL_VOIDED"}) {
		t.Errorf("expired return: refund %d history %v, want the label voided", exp.RefundMinor, exp.steps())
	}
	if at := exp.History[2].At; at.Before(ends) {
		t.Errorf("expired at %s, before its window ended at %s", at, ends)
	}
	if code := p.call("POST", "/returns/"+ids["expired"]+"/received", map[string]string{"condition": "ok"}, &missing); code != 409 || missing.Error == "" {
		t.Errorf("receipt after expiry: %d %q, want 409 with a message", code, missing.Error)
	}
	waitStock(t, p, "R1", 6, 0)
	waitStock(t, p, "R2", 8, 0)

	got := replies(t, p)
	if n := len(got[ids["completed"]]["orderflow.events.ReturnRefunded"]); n != 1 {
		t.Errorf("completed return refunded by %d distinct events, want 1", n)
	}
	for _, id := range []string{ids["rejected"], ids["expired"]} {
		if n := len(got[id]["orderflow.events.ReturnRefunded"]); n != 0 {
			t.Errorf("return %s refunded %d times, want never", id, n)
		}
	}
	if n := len(got[ids["expired"]]["orderflow.events.ReturnLabelVoided"]); n != 1 {
		t.Errorf("expired return's label voided by %d events, want 1", n)
	}
}

// waitLabel waits until the return's label is issued.
func (p *pipeline) waitLabel(id string) { p.waitStatus(id, returns.LabelIssued) }

// kill -9 of the processors (the orchestrator among them) in the middle of sixty returns, then a
// restart: every return completes, each refunded once, each unit restocked once (the stock is
// exactly what shipped minus what came back). The first kill is at a known point: payments is
// held back, so every return is INSPECTED with its refund command sent and re-sent by the retry
// timers; the second comes as soon as refunds flow again, with restocks in flight.
func TestIntegrationReturnsSurviveKill9(t *testing.T) {
	t.Setenv("ORDERFLOW_RETURN_RETRY", "1s")
	p := startAPIOnly(t)
	var withoutPayments []string
	for _, name := range topology.Processors() {
		if name != topology.GroupPayments {
			withoutPayments = append(withoutPayments, name)
		}
	}
	all := p.spawn(t, "a")
	for _, sku := range []string{"R1", "R2"} {
		if code := p.call("PUT", "/inventory/"+sku, map[string]int64{"available": 200}, nil); code != 202 {
			t.Fatalf("set stock: %d", code)
		}
		waitStock(t, p, sku, 200, 0)
	}
	const n = 60
	var orders []string
	for range n {
		var created orderResp
		if code := p.call("POST", "/orders", orderReq{"c-kill", "EUR", []item{{"R1", 2, 1000}, {"R2", 1, 250}}}, &created); code != 201 {
			t.Fatalf("place order: %d", code)
		}
		orders = append(orders, created.OrderID)
	}
	for _, o := range orders {
		var final orderResp
		if p.call("GET", "/orders/"+o+"?wait_for=terminal&timeout=60s", nil, &final); final.Status != "SHIPPED" {
			t.Fatalf("order %s: %s, want SHIPPED", o, final.Status)
		}
	}
	waitStock(t, p, "R1", 200-2*n, 0)
	all.signal(t, syscall.SIGTERM)
	held := p.spawn(t, "a", withoutPayments...) // the same state directory, as a restarted pod would have

	var ids []string
	for i, o := range orders {
		code, resp := p.requestReturn(o, "kill", returnReq{Lines: []returnLine{{"R1", 2}, {"R2", 1}}})
		if code != 202 {
			t.Fatalf("return %d: %d %+v", i, code, resp)
		}
		ids = append(ids, resp.ReturnID)
	}
	for _, id := range ids {
		p.waitLabel(id)
	}
	for _, id := range ids {
		if code := p.call("POST", "/returns/"+id+"/received", map[string]string{"condition": "ok"}, nil); code != 202 {
			t.Fatalf("receive %s: %d", id, code)
		}
	}
	for _, id := range ids {
		p.waitStatus(id, returns.Inspected)
	}
	time.Sleep(3 * time.Second) // refund commands re-sent by the retry timers
	held.signal(t, syscall.SIGKILL)

	again := p.spawn(t, "a")
	ctx := itest.Context(t, time.Minute)
	if err := itest.Eventually(ctx, func() error {
		var r returnResp
		p.call("GET", "/returns/"+ids[0], nil, &r)
		if r.Status == returns.Inspected {
			return fmt.Errorf("first return %s", r.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	again.signal(t, syscall.SIGKILL)
	at := map[string]int{}
	for _, id := range ids {
		var r returnResp
		p.call("GET", "/returns/"+id, nil, &r)
		at[r.Status]++
	}
	t.Logf("second kill -9 with the returns at %v", at)
	p.spawn(t, "a")

	for _, id := range ids {
		if r := p.waitReturn(id, returns.Completed, 2*time.Minute); r.RefundMinor != 2250 {
			t.Errorf("return %s refunded %d, want 2250", id, r.RefundMinor)
		}
	}
	waitStock(t, p, "R1", 200, 0) // 2n shipped, 2n back: restocked once each
	waitStock(t, p, "R2", 200, 0)
	got := replies(t, p)
	for _, id := range ids {
		if k := len(got[id]["orderflow.events.ReturnRefunded"]); k != 1 {
			t.Errorf("return %s: %d distinct refunds, want 1", id, k)
		}
		for _, sku := range []string{"R1", "R2"} {
			if k := len(got[id+"/"+sku]["orderflow.events.ReturnRestocked"]); k != 1 {
				t.Errorf("return %s: %s restocked by %d distinct events, want 1", id, sku, k)
			}
		}
	}
}

// waitStatus waits until the return's status is want.
func (p *pipeline) waitStatus(id, want string) {
	p.t.Helper()
	ctx := itest.Context(p.t, time.Minute)
	if err := itest.Eventually(ctx, func() error {
		var r returnResp
		p.call("GET", "/returns/"+id, nil, &r)
		if r.Status != want {
			return fmt.Errorf("status %s", r.Status)
		}
		return nil
	}); err != nil {
		p.t.Fatalf("return %s: %v; want %s", id, err, want)
	}
}
