package shipping

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/processors/kernel/proctest"
	"github.com/orderflow/orderflow/processors/kernel/streams"
	"github.com/orderflow/orderflow/schemas"
)

func issueLabel(orderID, returnID string) schemas.IssueReturnLabel {
	return schemas.IssueReturnLabel{Meta: proctest.Meta("IssueReturnLabel", orderID), OrderID: orderID, ReturnID: returnID, Attempt: 1}
}

func voidLabel(orderID, returnID string) schemas.VoidReturnLabel {
	return schemas.VoidReturnLabel{Meta: proctest.Meta("VoidReturnLabel", orderID), OrderID: orderID, ReturnID: returnID, Attempt: 1}
}

// shipped is the shipping state of order o-1 once paid and reserved.
func shipped(t *testing.T) *State {
	t.Helper()
	decide := Decide(proctest.Topology, time.Hour)
	msg := streams.Message{Key: "o-1", Timestamp: proctest.At}
	s, _, _ := decide(nil, schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"}, msg)
	s, _, _ = decide(s, schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"}, msg)
	if s.ShipmentID == "" {
		t.Fatal("o-1 did not ship")
	}
	return s
}

// answer is one reply to the returns orchestrator: its type, label and event id.
type answer struct{ typ, returnID, labelID, eventID string }

// labelRun feeds label commands to the decision and returns the state, the replies and the first
// refusal (the commands after it are not fed).
func labelRun(start *State, commands []schemas.Event, replay bool) (*State, []answer, error) {
	decide := Decide(proctest.Topology, time.Hour)
	s := start
	var out []answer
	for _, c := range commands {
		next, emits, err := decide(s, c, streams.Message{Key: "o-1", Timestamp: proctest.At.Add(time.Hour), Replay: replay})
		if err != nil {
			return s, out, err
		}
		if next != nil {
			s = next
		}
		for _, e := range emits {
			if e.Topic != proctest.Topology.ReturnReplies() || e.Key != "o-1" {
				return s, out, fmt.Errorf("reply on %s under key %q, want the reply channel under the order id", e.Topic, e.Key)
			}
			switch ev := e.Event.(type) {
			case schemas.ReturnLabelIssued:
				out = append(out, answer{"issued", ev.ReturnID, ev.LabelID, ev.Meta.EventID})
			case schemas.ReturnLabelVoided:
				out = append(out, answer{"voided", ev.ReturnID, ev.LabelID, ev.Meta.EventID})
			default:
				return s, out, fmt.Errorf("unexpected emit %s", e.Event.AvroName())
			}
		}
	}
	return s, out, nil
}

func TestReturnLabels(t *testing.T) {
	issue, again, void := issueLabel("o-1", "r-1"), issueLabel("o-1", "r-1"), voidLabel("o-1", "r-1")
	again.Attempt = 2 // a retry: another event id, the same return
	cases := []struct {
		name     string
		commands []schemas.Event
		answers  []string // type/label of each reply
		labels   []ReturnLabel
		refused  string // in the refusal of the last command
	}{
		{"issued for a shipped order", []schemas.Event{issue},
			[]string{"issued/lbl-r-1"}, []ReturnLabel{{ReturnID: "r-1"}}, ""},
		{"a copy and a retry answered again", []schemas.Event{issue, issue, again},
			[]string{"issued/lbl-r-1", "issued/lbl-r-1", "issued/lbl-r-1"}, []ReturnLabel{{ReturnID: "r-1"}}, ""},
		{"issued then voided", []schemas.Event{issue, void, void},
			[]string{"issued/lbl-r-1", "voided/lbl-r-1", "voided/lbl-r-1"}, []ReturnLabel{{ReturnID: "r-1", Voided: true}}, ""},
		{"voided before it was issued: the late issue answers voided", []schemas.Event{void, issue},
			[]string{"voided/lbl-r-1", "voided/lbl-r-1"}, []ReturnLabel{{ReturnID: "r-1", Voided: true}}, ""},
		{"one label per return", []schemas.Event{issue, issueLabel("o-1", "r-2"), voidLabel("o-1", "r-2")},
			[]string{"issued/lbl-r-1", "issued/lbl-r-2", "voided/lbl-r-2"}, []ReturnLabel{{ReturnID: "r-1"}, {ReturnID: "r-2", Voided: true}}, ""},
		{"under another key", []schemas.Event{issueLabel("o-2", "r-1")}, nil, nil, "under key"},
		{"without a return id", []schemas.Event{issueLabel("o-1", "")}, nil, nil, "under key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, out, err := labelRun(shipped(t), c.commands, false)
			if c.refused != "" {
				if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("err %v, want a rejection mentioning %q", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			ids := map[string]string{}
			for _, a := range out {
				got = append(got, a.typ+"/"+a.labelID)
				if id, ok := ids[a.typ+a.returnID]; ok && id != a.eventID {
					t.Errorf("%s of %s answered under two event ids (%s, %s): the orchestrator could not deduplicate", a.typ, a.returnID, id, a.eventID)
				}
				ids[a.typ+a.returnID] = a.eventID
			}
			if fmt.Sprint(got) != fmt.Sprint(c.answers) {
				t.Errorf("answers %v, want %v", got, c.answers)
			}
			if labels := s.Labels.All(); fmt.Sprint(labels) != fmt.Sprint(c.labels) {
				t.Errorf("labels %+v, want %+v", labels, c.labels)
			}
		})
	}
}

// The event id of an answer derives from the return alone: the first issue, a retry (another
// command id) and a replay after a crash are answered under one id, as the orchestrator can
// compute it (streams.Meta of cause "label/<return id>").
func TestReturnLabelAnswersKeepTheirEventID(t *testing.T) {
	s, first, err := labelRun(shipped(t), []schemas.Event{issueLabel("o-1", "r-1")}, false)
	if err != nil {
		t.Fatal(err)
	}
	retry := issueLabel("o-1", "r-1")
	retry.Attempt = 2
	next, replayed, err := labelRun(s, []schemas.Event{retry}, true)
	if err != nil || next != s || len(replayed) != 1 {
		t.Fatalf("replay: state changed %v, answers %+v, err %v; want no change and one answer", next != s, replayed, err)
	}
	want := streams.Meta("ReturnLabelIssued", schemas.Metadata{EventID: "label/r-1"}, "o-1", proctest.At, "").EventID
	if first[0].eventID != want || replayed[0].eventID != want {
		t.Errorf("event ids %s and %s, want %s", first[0].eventID, replayed[0].eventID, want)
	}
	_, voided, _ := labelRun(s, []schemas.Event{voidLabel("o-1", "r-1")}, false)
	if want := streams.Meta("ReturnLabelVoided", schemas.Metadata{EventID: "label-void/r-1"}, "o-1", proctest.At, "").EventID; voided[0].eventID != want {
		t.Errorf("void answered under %s, want %s", voided[0].eventID, want)
	}
}

func TestReturnLabelRefusals(t *testing.T) {
	placed := &State{PlacedAt: proctest.At, Deadline: proctest.At.Add(time.Hour)}
	full := shipped(t)
	for i := range MaxReturnLabels {
		full.Labels = full.Labels.With(ReturnLabel{ReturnID: fmt.Sprintf("r-%d", i)})
	}
	cases := []struct {
		name    string
		state   *State
		command schemas.Event
		refused string
	}{
		{"an order never seen", nil, issueLabel("o-1", "r-1"), "not shipped"},
		{"an order placed, not shipped", placed, issueLabel("o-1", "r-1"), "not shipped"},
		{"an order timed out", &State{Cancelled: true, TimedOut: true}, issueLabel("o-1", "r-1"), "not shipped"},
		{"a label beyond the bound", full, issueLabel("o-1", "r-new"), "the most it may have"},
		{"a void beyond the bound", full, voidLabel("o-1", "r-new"), "the most it may have"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, emits, err := Decide(proctest.Topology, time.Hour)(c.state, c.command, streams.Message{Key: "o-1", Timestamp: proctest.At})
			if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), c.refused) || next != nil || len(emits) != 0 {
				t.Errorf("state %+v, emits %d, err %v; want a rejection mentioning %q", next, len(emits), err, c.refused)
			}
		})
	}
	// the labels recorded before the bound are still answered
	if _, out, err := labelRun(full, []schemas.Event{issueLabel("o-1", "r-3"), voidLabel("o-1", "r-4")}, false); err != nil || len(out) != 2 {
		t.Errorf("labels within the bound: answers %+v, err %v", out, err)
	}
}

// Through goka's tester: the label commands on the return tasks topic pass the eventType
// pre-filter (payments' RefundReturn on the same topic is passed over), the answers go to the
// reply channel keyed by order id with their event id in the header, a copy is answered again
// under the same id without a second label, and a command for an order not shipped is
// dead-lettered.
func TestReturnLabelsThroughTheWiring(t *testing.T) {
	serde := proctest.Serde(t)
	top := proctest.Topology
	h := proctest.New(t, serde, Group(top, streams.Env{Serde: serde, Poison: streams.DeadLetter(top, "shipping"),
		Contracts: top.Contracts()}))
	replies := h.Track(top.ReturnReplies())
	dlq := h.Track(streams.DLQTopic(top.ReturnTasks()))
	h.Feed(top.PaymentEvents(), "o-1", schemas.PaymentAuthorized{Meta: proctest.Meta("PaymentAuthorized", "o-1"), OrderID: "o-1"})
	h.Feed(top.InventoryEvents(), "o-1", schemas.StockReserved{Meta: proctest.Meta("StockReserved", "o-1"), OrderID: "o-1"})
	issue := issueLabel("o-1", "r-1")
	h.Feed(top.ReturnTasks(), "o-1", issue)
	h.Feed(top.ReturnTasks(), "o-1", issue)
	h.Feed(top.ReturnTasks(), "o-1", schemas.RefundReturn{Meta: proctest.Meta("RefundReturn", "o-1"), OrderID: "o-1", ReturnID: "r-1", AmountMinor: 1, Currency: "EUR"})
	h.Feed(top.ReturnTasks(), "o-2", issueLabel("o-2", "r-2"))

	got := replies.All()
	if fmt.Sprint(proctest.Types(got)) != "[ReturnLabelIssued ReturnLabelIssued]" {
		t.Fatalf("replies %v, want the label issued, answered twice", proctest.Types(got))
	}
	for _, r := range got {
		ev := r.Event.(schemas.ReturnLabelIssued)
		if r.Key != "o-1" || ev.LabelID != "lbl-r-1" || string(r.Headers[streams.HeaderEventID]) != got[0].Event.(schemas.ReturnLabelIssued).Meta.EventID {
			t.Errorf("reply %q %+v headers %v", r.Key, ev, r.Headers)
		}
	}
	dead := dlq.Raw()
	if len(dead) != 1 || dead[0].Key != "o-2" || string(dead[0].Headers[streams.HeaderDLQKind]) != "rejected" ||
		!strings.Contains(string(dead[0].Headers[streams.HeaderDLQMessage]), "not shipped") {
		t.Fatalf("dead letters %+v, want o-2's command rejected as not shipped", dead)
	}
	st := h.TT.TableValue(top.Table("shipping"), "o-1").(streams.Envelope[State]).State
	if labels := st.Labels.All(); len(labels) != 1 || labels[0] != (ReturnLabel{ReturnID: "r-1"}) || st.ShipmentID == "" {
		t.Errorf("table value of o-1: %+v, labels %+v", st, labels)
	}
}

// earlierLayout writes a shipping value as the releases before return labels did: the first
// fields, then the deadline block when deadline is set.
func earlierLayout(s State, deadline bool) []byte {
	w := &streams.Writer{}
	w.Bool(s.Authorized)
	w.Bool(s.Reserved)
	w.Bool(s.Cancelled)
	w.String(s.ShipmentID)
	w.Varint(s.CreatedAt.UnixMilli())
	w.String(s.CausedBy)
	if deadline {
		w.Varint(s.PlacedAt.UnixMilli())
		w.Varint(s.Deadline.UnixMilli())
		w.Bool(s.TimedOut)
		w.Varint(s.FirstAt.UnixMilli())
		w.String(s.FirstID)
	}
	return w.Bytes()
}

// Values of the earlier layouts decode, and a value without labels is still written in them; a
// value with labels round-trips, with or without a deadline (the deadline block, zero, is then
// written before the labels).
func TestShippingStateWithLabelsRoundTrips(t *testing.T) {
	shippedAt := proctest.At.Add(time.Second)
	noDeadline := State{Authorized: true, Reserved: true, ShipmentID: "shp-o-1", CreatedAt: shippedAt, CausedBy: "e-1"}
	withDeadline := noDeadline
	withDeadline.PlacedAt, withDeadline.Deadline = proctest.At, proctest.At.Add(deadline)
	for name, c := range map[string]struct {
		state    State
		deadline bool
	}{
		"before deadlines": {noDeadline, false},
		"with a deadline":  {withDeadline, true},
	} {
		old := earlierLayout(c.state, c.deadline)
		var got State
		r := streams.NewReader(old)
		got.UnmarshalState(r)
		if err := r.Done(); err != nil || got != c.state || got.Labels.Len() != 0 {
			t.Errorf("%s: decoded %+v (%v), want %+v", name, got, err, c.state)
		}
		w := &streams.Writer{}
		c.state.MarshalState(w)
		if string(w.Bytes()) != string(old) {
			t.Errorf("%s: written as %x, want the earlier layout %x", name, w.Bytes(), old)
		}
	}

	labels := NewReturnLabels(ReturnLabel{ReturnID: "r-1"}, ReturnLabel{ReturnID: "r-2", Voided: true})
	for name, s := range map[string]State{
		"labels, no deadline":   {Authorized: true, Reserved: true, ShipmentID: "shp-o-1", CreatedAt: shippedAt, Labels: labels},
		"labels and a deadline": {Authorized: true, Reserved: true, ShipmentID: "shp-o-1", CreatedAt: shippedAt, PlacedAt: proctest.At, Deadline: proctest.At.Add(deadline), Labels: labels},
		"a void only":           {Labels: NewReturnLabels(ReturnLabel{ReturnID: "r-9", Voided: true})},
	} {
		in := streams.Envelope[State]{State: s, Offsets: map[string]int64{string(proctest.Topology.ReturnTasks()): 3}}
		data, err := TableCodec().Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := TableCodec().Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := out.(streams.Envelope[State]); got.State != s || got.Offsets[string(proctest.Topology.ReturnTasks())] != 3 {
			t.Errorf("%s: round trip %+v, want %+v", name, got, in)
		}
		if _, pending := out.(streams.Envelope[State]).State.PendingDeadline(); pending {
			t.Errorf("%s: a deadline pending after the round trip", name)
		}
	}
}
