package returns

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/processors/kernel/topology"
	"github.com/orderflow/orderflow/schemas"
)

// Config is the orchestrator's timing.
type Config struct {
	// Window is how long a customer has, from the label, to send the parcel.
	Window time.Duration
	// RetryBase is the wait for a service's answer before a step's command is sent again; it
	// doubles with every attempt up to RetryMax.
	RetryBase, RetryMax time.Duration
}

// Defaults: a two-week return window, retries after 10 s, 20 s, … up to every 5 minutes.
const (
	DefaultWindow    = 14 * 24 * time.Hour
	DefaultRetryBase = 10 * time.Second
	DefaultRetryMax  = 5 * time.Minute
)

// ConfigFromEnv is the default Config with ORDERFLOW_RETURN_WINDOW and ORDERFLOW_RETURN_RETRY
// (Go durations) applied.
func ConfigFromEnv() Config {
	return Config{Window: duration("ORDERFLOW_RETURN_WINDOW", DefaultWindow),
		RetryBase: duration("ORDERFLOW_RETURN_RETRY", DefaultRetryBase), RetryMax: DefaultRetryMax}
}

func duration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil && d > 0 {
			return d
		}
		slog.Warn(name+" is not a positive duration; using the default", "value", v, "default", def)
	}
	return def
}

// backoff is the wait after the attempt-th sending of a command.
func (c Config) backoff(attempt int32) time.Duration {
	d := c.RetryBase
	for i := int32(1); i < attempt && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}

// Decide is the orchestrator's pure decision function. "Now" is the input record's timestamp, so
// a rebuild from the inputs makes the same history.
func Decide(t topology.Topology, cfg Config) streams.Decider[State] {
	o := orchestrator{t: t, cfg: cfg}
	return func(state *State, ev schemas.Event, msg streams.Message) (*State, []streams.Emit, error) {
		var s State
		if state != nil {
			s = State{Returns: slices.Clone(state.Returns)}
		}
		now := msg.Timestamp.UTC().Truncate(time.Millisecond)
		switch e := ev.(type) {
		case schemas.ReturnRequested:
			return o.requested(s, e, msg, now)
		case schemas.TimerFired:
			return o.fired(s, e, msg, now)
		}
		id, orderID := returnOf(ev)
		if orderID != msg.Key {
			return nil, nil, streams.Rejectf("%s for order %q arrived under key %q", ev.Metadata().EventType, orderID, msg.Key)
		}
		i := s.Find(id)
		if i < 0 {
			return nil, nil, streams.Rejectf("%s for unknown return %q", ev.Metadata().EventType, id)
		}
		if msg.Replay {
			return nil, o.tasks(msg.Key, s.Returns[i]), nil
		}
		r := cloneReturn(s.Returns[i])
		var emits []streams.Emit
		switch e := ev.(type) {
		case schemas.ReturnLabelIssued:
			if r.Status != Requested {
				return nil, nil, nil // a copy, or an answer to a retry
			}
			r.LabelID = e.LabelID
			r.WindowEnds = now.Add(o.cfg.Window)
			r.step(LabelIssued, now, "label "+e.LabelID)
			r.Due, r.Attempt = r.WindowEnds, 0
		case schemas.ReturnReceived:
			if r.Status != Requested && r.Status != LabelIssued {
				return nil, nil, nil // a copy, or too late: an expired return stays expired
			}
			if e.Condition != schemas.ReturnConditionOK && e.Condition != schemas.ReturnConditionDamaged {
				return nil, nil, streams.Rejectf("ReturnReceived %s with condition %q", id, e.Condition)
			}
			r.Condition = e.Condition
			r.step(Received, now, "condition "+string(e.Condition))
			if e.Condition == schemas.ReturnConditionDamaged {
				r.step(Inspected, now, "damaged: not accepted")
				r.step(Rejected, now, "no refund, no restock")
				r.Due, r.Attempt = time.Time{}, 0
				break
			}
			r.step(Inspected, now, "accepted: "+strconv.FormatInt(r.amount(), 10)+" "+r.Currency+" to refund")
			emits = o.start(&r, now)
		case schemas.ReturnRefunded:
			if r.Status != Inspected {
				return nil, nil, nil
			}
			r.RefundMinor = e.AmountMinor
			r.step(Refunded, now, strconv.FormatInt(e.AmountMinor, 10)+" "+e.Currency)
			emits = o.start(&r, now)
		case schemas.ReturnRestocked:
			if r.Status != Refunded || slices.Contains(r.RestockedSKUs, e.SKU) || !r.has(e.SKU) {
				return nil, nil, nil
			}
			r.RestockedSKUs = append(r.RestockedSKUs, e.SKU)
			if len(r.RestockedSKUs) < len(r.Lines) {
				break
			}
			r.step(Restocked, now, "")
			r.step(Completed, now, "")
			r.Due, r.Attempt = time.Time{}, 0
		case schemas.ReturnLabelVoided:
			if r.Status != Expired || r.LabelVoided {
				return nil, nil, nil
			}
			r.LabelVoided = true
			r.step(LabelVoided, now, "label "+e.LabelID)
			r.Due, r.Attempt = time.Time{}, 0
		default:
			return nil, nil, nil
		}
		s.Returns[i] = r
		return &s, emits, nil
	}
}

type orchestrator struct {
	t   topology.Topology
	cfg Config
}

// returnOf names the return and order of a return event.
func returnOf(ev schemas.Event) (returnID, orderID string) {
	switch e := ev.(type) {
	case schemas.ReturnReceived:
		return e.ReturnID, e.OrderID
	case schemas.ReturnLabelIssued:
		return e.ReturnID, e.OrderID
	case schemas.ReturnLabelVoided:
		return e.ReturnID, e.OrderID
	case schemas.ReturnRefunded:
		return e.ReturnID, e.OrderID
	case schemas.ReturnRestocked:
		return e.ReturnID, e.OrderID
	}
	return "", ""
}

// requested starts a return: checked against what the order shipped and what its other returns
// took back; one that asks for more is kept as REJECTED with the reason (GET shows it).
func (o orchestrator) requested(s State, e schemas.ReturnRequested, msg streams.Message, now time.Time) (*State, []streams.Emit, error) {
	if err := e.Validate(); err != nil {
		return nil, nil, streams.Rejectf("%v", err)
	}
	if e.OrderID != msg.Key {
		return nil, nil, streams.Rejectf("ReturnRequested for order %q arrived under key %q", e.OrderID, msg.Key)
	}
	if i := s.Find(e.ReturnID); i >= 0 {
		if msg.Replay {
			return nil, o.tasks(msg.Key, s.Returns[i]), nil
		}
		return nil, nil, nil // requested again (an outbox row delivered twice)
	}
	if len(s.Returns) >= MaxReturnsPerOrder {
		return nil, nil, streams.Rejectf("order %s has %d returns already (at most %d)", e.OrderID, len(s.Returns), MaxReturnsPerOrder)
	}
	r := Return{ID: e.ReturnID, Lines: e.Lines, Currency: e.Currency, Reason: e.Reason}
	r.step(Requested, now, "")
	var emits []streams.Emit
	if why := returnable(s, e); why != "" {
		r.step(Rejected, now, why)
	} else {
		emits = o.start(&r, now)
	}
	s.Returns = append(s.Returns, r)
	return &s, emits, nil
}

// returnable explains why a request asks for more than is left to return ("" when it does not):
// a SKU twice, a SKU or price the order does not have, or more units than shipped minus those
// the order's other returns took back.
func returnable(s State, e schemas.ReturnRequested) string {
	seen := map[string]bool{}
	for _, l := range e.Lines {
		if seen[l.SKU] {
			return fmt.Sprintf("SKU %s appears twice", l.SKU)
		}
		seen[l.SKU] = true
		var ordered int64
		priced := false
		for _, ol := range e.Ordered {
			if ol.SKU == l.SKU {
				ordered += int64(ol.Quantity)
				priced = priced || ol.UnitPriceMinor == l.UnitPriceMinor
			}
		}
		if !priced {
			return fmt.Sprintf("SKU %s at %d is not in the order", l.SKU, l.UnitPriceMinor)
		}
		if left := ordered - s.Returned(l.SKU); int64(l.Quantity) > left {
			return fmt.Sprintf("SKU %s: %d asked, %d left to return", l.SKU, l.Quantity, left)
		}
	}
	return ""
}

// fired acts on the order's returns whose deadline fell due by the firing: a return window that
// ended expires the return (and voids its label); any other deadline sends the waiting step's
// command again with the next attempt.
func (o orchestrator) fired(s State, e schemas.TimerFired, msg streams.Message, now time.Time) (*State, []streams.Emit, error) {
	if msg.Replay {
		var emits []streams.Emit
		for _, r := range s.Returns {
			emits = append(emits, o.tasks(msg.Key, r)...)
		}
		return nil, emits, nil
	}
	changed := false
	var emits []streams.Emit
	for i, r := range s.Returns {
		// due by the firing, and (a record without a timestamp, as in goka's tester, is taken
		// at its word) never before the deadline by the record's time
		if r.Due.IsZero() || r.Due.After(e.Deadline) || (!now.IsZero() && now.Before(r.Due)) {
			continue
		}
		r = cloneReturn(r)
		at := r.Due
		if r.Status == LabelIssued {
			r.step(Expired, at, "not received by "+r.WindowEnds.Format(time.RFC3339))
			emits = append(emits, o.start(&r, at)...)
		} else {
			r.Attempt++
			r.Due = at.Add(o.cfg.backoff(r.Attempt))
			emits = append(emits, o.tasks(msg.Key, r)...)
		}
		s.Returns[i], changed = r, true
	}
	if !changed {
		return nil, nil, nil
	}
	return &s, emits, nil
}

// start begins the return's current step: its command's first sending, and a retry deadline.
func (o orchestrator) start(r *Return, now time.Time) []streams.Emit {
	r.Attempt = 1
	r.Due = now.Add(o.cfg.backoff(1))
	return o.tasks(orderOf(r.ID), *r)
}

func orderOf(returnID string) string {
	orderID, _ := schemas.ReturnOrder(returnID)
	return orderID
}

// tasks are the commands the return's current step waits on, at its current attempt. Their
// occurred_at is the step's start (constant across retries: the ledger recognises a retry of
// a restock it applied by it) and their event id names the attempt.
func (o orchestrator) tasks(orderID string, r Return) []streams.Emit {
	if r.Attempt == 0 || len(r.History) == 0 {
		return nil
	}
	began := r.History[len(r.History)-1].At
	cause := schemas.Metadata{EventID: "return/" + r.ID, CorrelationID: orderID}
	attempt := strconv.Itoa(int(r.Attempt))
	meta := func(typ, discriminator string) schemas.Metadata {
		return streams.Meta(typ, cause, orderID, began, discriminator+"/"+attempt)
	}
	tasks := o.t.Out(topology.GroupReturns, o.t.ReturnTasks())
	switch r.Status {
	case Requested:
		return []streams.Emit{{Topic: tasks, Key: orderID, Event: schemas.IssueReturnLabel{
			Meta: meta("IssueReturnLabel", ""), OrderID: orderID, ReturnID: r.ID, Attempt: r.Attempt}}}
	case Inspected:
		return []streams.Emit{{Topic: tasks, Key: orderID, Event: schemas.RefundReturn{
			Meta: meta("RefundReturn", ""), OrderID: orderID, ReturnID: r.ID, AmountMinor: r.amount(), Currency: r.Currency, Attempt: r.Attempt}}}
	case Refunded:
		var out []streams.Emit
		for _, l := range r.Lines {
			if slices.Contains(r.RestockedSKUs, l.SKU) {
				continue
			}
			out = append(out, streams.Emit{Topic: o.t.Out(topology.GroupReturns, o.t.SkuCommands()), Key: l.SKU, Event: schemas.RestockReturn{
				Meta: meta("RestockReturn", l.SKU), SKU: l.SKU, OrderID: orderID, ReturnID: r.ID, Quantity: l.Quantity, Attempt: r.Attempt}})
		}
		return out
	case Expired:
		if r.LabelVoided {
			return nil
		}
		return []streams.Emit{{Topic: tasks, Key: orderID, Event: schemas.VoidReturnLabel{
			Meta: meta("VoidReturnLabel", ""), OrderID: orderID, ReturnID: r.ID, Attempt: r.Attempt}}}
	}
	return nil
}

// step records a new status.
func (r *Return) step(status string, at time.Time, note string) {
	if status != Received && status != Restocked && status != LabelVoided {
		r.Status = status
	}
	r.History = append(r.History, Step{Status: status, At: at, Note: note})
}

// amount is the refund of the return's lines.
func (r Return) amount() int64 {
	var sum int64
	for _, l := range r.Lines {
		sum += int64(l.Quantity) * l.UnitPriceMinor // bounded by schemas.CheckLine: no overflow
	}
	return sum
}

func (r Return) has(sku string) bool {
	return slices.ContainsFunc(r.Lines, func(l schemas.ReturnLine) bool { return l.SKU == sku })
}

func cloneReturn(r Return) Return {
	r.History = slices.Clone(r.History)
	r.RestockedSKUs = slices.Clone(r.RestockedSKUs)
	return r
}

// Accepts lists the event types the orchestrator acts on.
var Accepts = []schemas.Event{schemas.ReturnRequested{}, schemas.ReturnReceived{}, schemas.ReturnLabelIssued{},
	schemas.ReturnLabelVoided{}, schemas.ReturnRefunded{}, schemas.ReturnRestocked{}, schemas.TimerFired{}}

// Spec is what the orchestrator reads and writes.
func Spec(t topology.Topology) streams.Spec {
	return streams.Spec{Processor: topology.GroupReturns,
		Inputs:  []goka.Stream{t.ReturnEvents(), t.ReturnReplies(), t.ReturnTimers()},
		Outputs: []goka.Stream{t.ReturnTasks(), t.SkuCommands()}}
}

// Group defines the orchestrator's processor with the Config of the environment.
func Group(t topology.Topology, env streams.Env) *goka.GroupGraph {
	cb := streams.DurableCallback(env, topology.GroupReturns, Decide(t, ConfigFromEnv()), Accepts...)
	return streams.Define(t, Spec(t), TableCodec(), cb)
}

// PendingDeadline reads a returns table value for the timers scheduler.
var PendingDeadline = streams.PendingDeadlines(TableCodec(), State.PendingDeadline)
