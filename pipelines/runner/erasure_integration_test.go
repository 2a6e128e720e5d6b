//go:build integration

package runner_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lovoo/goka"

	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/internal/pii"
	"github.com/orderflow/orderflow/internal/testkit/itest"
	"github.com/orderflow/orderflow/pipelines/reprocess"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

type personalReq struct {
	orderReq
	CustomerName    string `json:"customer_name,omitempty"`
	CustomerEmail   string `json:"customer_email,omitempty"`
	ShippingAddress string `json:"shipping_address,omitempty"`
}

type personalResp struct {
	orderResp
	Personal *struct {
		CustomerName    string `json:"customer_name"`
		CustomerEmail   string `json:"customer_email"`
		ShippingAddress string `json:"shipping_address"`
	} `json:"personal"`
}

// placePersonal places an order with personal data and waits until it is terminal.
func (p *pipeline) placePersonal(customer, name, email, address string) string {
	p.t.Helper()
	var created orderResp
	req := personalReq{orderReq{customer, "EUR", []item{{"P1", 1, 500}}}, name, email, address}
	if code := p.call("POST", "/orders", req, &created); code != 201 {
		p.t.Fatalf("place order: %d", code)
	}
	var final orderResp
	if p.call("GET", "/orders/"+created.OrderID+"?wait_for=terminal&timeout=60s", nil, &final); final.Status != "SHIPPED" {
		p.t.Fatalf("order %s: %s, want SHIPPED", created.OrderID, final.Status)
	}
	return created.OrderID
}

func (p *pipeline) personal(orderID string) personalResp {
	p.t.Helper()
	var r personalResp
	if code := p.call("GET", "/orders/"+orderID, nil, &r); code != 200 || r.Personal == nil {
		p.t.Fatalf("GET order %s: %d %+v", orderID, code, r)
	}
	return r
}

// Crypto-shredding on the real pipeline. Orders carry a name, an email and an address, sealed per
// customer before they reach the outbox. The master key is rotated (data keys re-wrapped online)
// and the old master key dropped: the personal data still reads. Then one customer is erased:
// their orders keep ids, amounts, statuses and history, their personal fields read "[erased]",
// another customer's still read; and the plaintext is nowhere — not in the raw bytes of any
// topic or table topic (dead letters included), not in the processors' and views' LevelDB
// files, not in the outbox, not in a pg_dump of the database. Reprocessing order-status rebuilds
// a table identical to the live one.
func TestIntegrationErasureLeavesNoPlaintext(t *testing.T) {
	first, err := pii.GenerateMasterKey("first")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ORDERFLOW_MASTER_KEYS", first)
	p := deploy(t)
	running := p.start(runner.Config{Processors: topology.Processors(), API: true})
	if code := p.call("PUT", "/inventory/P1", map[string]int64{"available": 10}, nil); code != 202 {
		t.Fatalf("set stock: %d", code)
	}
	waitStock(t, p, "P1", 10, 0)
	suffix := itest.Suffix()
	erased, kept := "c-erased-"+suffix, "c-kept-"+suffix
	name, email, address := "Zelda Quix"+suffix, "zelda."+suffix+"@example.test", "7 Ravenmoor Lane "+suffix
	secrets := []string{name, email, address}
	var erasedOrders []string
	for range 2 {
		erasedOrders = append(erasedOrders, p.placePersonal(erased, name, email, address))
	}
	keptOrder := p.placePersonal(kept, "Kept Person "+suffix, "kept."+suffix+"@example.test", "1 Kept Road")
	if got := p.personal(erasedOrders[0]).Personal; got.CustomerName != name || got.CustomerEmail != email || got.ShippingAddress != address {
		t.Fatalf("personal data before erasure: %+v", got)
	}

	// rotation: a new current master key, the data keys re-wrapped online, the old key dropped
	second, err := pii.GenerateMasterKey("second")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ORDERFLOW_MASTER_KEYS", second+","+first)
	masters, err := pii.LoadMasterKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(itest.Context(t, time.Minute), p.cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rewrapped, err := pii.NewKeystore(pool, p.schema, masters).Rotate(itest.Context(t, time.Minute))
	if err != nil || rewrapped != 2 {
		t.Fatalf("rotate: %d re-wrapped, %v; want the 2 customers' keys", rewrapped, err)
	}
	p.stop(running)
	t.Setenv("ORDERFLOW_MASTER_KEYS", second) // the first master key is gone
	running = p.start(runner.Config{Processors: topology.Processors(), API: true})
	if got := p.personal(erasedOrders[1]).Personal; got.CustomerName != name || got.ShippingAddress != address {
		t.Fatalf("personal data after the rotation, with only the new master key: %+v", got)
	}

	// erasure
	var answer struct {
		ErasedKeys int `json:"erased_keys"`
	}
	if code := p.call("DELETE", "/customers/"+erased, nil, &answer); code != 200 || answer.ErasedKeys != 1 {
		t.Fatalf("erase: %d %+v, want 200 and 1 key", code, answer)
	}
	if code := p.call("DELETE", "/customers/"+erased, nil, &answer); code != 200 || answer.ErasedKeys != 0 {
		t.Errorf("erase again: %d %+v, want 200 and 0 keys (idempotent)", code, answer)
	}
	for _, id := range erasedOrders {
		r := p.personal(id)
		if r.Status != "SHIPPED" || len(r.History) != 4 {
			t.Errorf("order %s after erasure: %s with %d history entries, want SHIPPED with 4", id, r.Status, len(r.History))
		}
		if pd := r.Personal; pd.CustomerName != pii.Erased || pd.CustomerEmail != pii.Erased || pd.ShippingAddress != pii.Erased {
			t.Errorf("order %s personal data after erasure: %+v, want %q", id, pd, pii.Erased)
		}
	}
	if got := p.personal(keptOrder).Personal; got.CustomerName != "Kept Person "+suffix {
		t.Errorf("another customer's personal data after the erasure: %+v", got)
	}
	// an order placed afterwards by the erased customer gets a new key and reads
	later := p.placePersonal(erased, name+" again", "", "")
	if got := p.personal(later).Personal; got.CustomerName != name+" again" {
		t.Errorf("a new order of the erased customer: %+v", got)
	}
	p.stopAll() // LevelDB files closed and flushed before they are read

	// the plaintext is nowhere
	found := func(where string, data []byte) {
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds %q in plaintext", where, s)
			}
		}
	}
	topics := append(p.topo.Streams(), p.topo.DeadLetterTopics()...)
	for _, proc := range topology.Processors() {
		topics = append(topics, goka.Stream(p.topo.Table(proc)))
	}
	sealed, scanned := 0, 0
	client, err := sarama.NewClient(p.cfg.Brokers, kafka.NewSaramaConfig("itest-erasure"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, topic := range topics {
		if err := kafka.ReadTopic(itest.Context(t, time.Minute), client, string(topic), func(m *sarama.ConsumerMessage) {
			scanned++
			found("topic "+string(topic), m.Key)
			found("topic "+string(topic), m.Value)
			for _, h := range m.Headers {
				found("a header on "+string(topic), h.Value)
			}
			if topic == p.topo.OrderEvents() && bytes.Contains(m.Value, []byte("pii1.")) {
				sealed++
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if sealed < 4 {
		t.Errorf("%d OrderPlaced carry sealed personal fields, want the 4 orders placed with them", sealed)
	}
	files := 0
	if err := filepath.WalkDir(p.state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		found("state file "+path, data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var outboxRows int
	rows, err := pool.Query(itest.Context(t, time.Minute), `SELECT payload FROM `+p.schema+`.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		outboxRows++
		found("the outbox", payload)
	}
	rows.Close()
	dump, err := exec.Command(pgDump(), "--dbname="+p.cfg.PGDSN, "--schema="+p.schema).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	found("pg_dump", dump)
	if !bytes.Contains(dump, []byte("pii1.")) {
		t.Error("pg_dump has no sealed personal field: the orders table lost them")
	}
	t.Logf("scanned %d records on %d topics (%d OrderPlaced with sealed fields), %d state files, %d outbox rows, a %d-byte pg_dump: no plaintext",
		scanned, len(topics), sealed, files, outboxRows, len(dump))

	// reprocessing order-status rebuilds the live table
	ctx := itest.Context(t, 5*time.Minute)
	if _, err := reprocess.Run(ctx, p.cfg, p.topo, topology.GroupOrderStatus, "erasure", t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	diff, err := reprocess.Compare(ctx, p.cfg, p.topo, topology.GroupOrderStatus, "erasure")
	if err != nil {
		t.Fatal(err)
	}
	if diff.Keys == 0 || !diff.Equal() {
		t.Errorf("order-status rebuilt after the erasure differs: %d keys, differing %v", diff.Keys, diff.Differing)
	}
}

// pgDump is Debian's pg_dump of the stack's PostgreSQL.
func pgDump() string {
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump"); len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return "pg_dump"
}
