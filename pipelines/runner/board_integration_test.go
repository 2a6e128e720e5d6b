//go:build integration

package runner_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/chromedp/chromedp"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/kafka"
	"github.com/orderflow/orderflow/pipelines/runner"
	"github.com/orderflow/orderflow/processors/kernel/topology"
)

// artifacts is where the browser test leaves its screenshots: $ORDERFLOW_TEST_ARTIFACTS, or
// bin/test-artifacts at the top of the repository.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ORDERFLOW_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium (Debian's, which `make up` installs) for the test.
func browser(t *testing.T) context.Context {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: `make up` installs Debian's chromium package (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1440, 1100))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// The operations board in headless Chromium against the real pipeline with API keys: it logs in
// with an operations token, shows an order placed through the API reaching SHIPPED live, opens
// the order's timeline (its events with topic, partition and offset), and shows a poison message
// in the dead-letter panel, and a return of the order in the returns panel with what it waits
// for. A customer token sees its own order and no operations panel.
// Screenshots of each step go to the test artefacts (bin/test-artifacts).
func TestIntegrationBoardInHeadlessChromium(t *testing.T) {
	keys, err := auth.ParseKeys(strings.NewReader(securityKeys))
	if err != nil {
		t.Fatal(err)
	}
	p := deploy(t)
	p.start(runner.Config{Processors: topology.Processors(), API: true, Auth: keys})
	p.token = "0123456789abcdef-ops"
	if code := p.call("PUT", "/inventory/B1", map[string]int64{"available": 5}, nil); code != 202 {
		t.Fatalf("set stock: %d", code)
	}
	waitStock(t, p, "B1", 5, 0)
	dir := artifacts(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser for ctx's lifetime
		t.Fatal(err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			path := filepath.Join(dir, "board-"+name+".png")
			t.Logf("screenshot %s", path)
			return os.WriteFile(path, png, 0o644)
		})
	}
	// until waits for a JavaScript expression to be true on the page.
	until := func(expression string, timeout time.Duration) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(timeout))(ctx, tg)
			return err
		})
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			chromedp.Run(ctx, shot("failed"))
			t.Fatalf("%s: %v", what, err)
		}
	}
	// submit submits a form as a click on its button would (firing its submit handler).
	submit := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q).requestSubmit(), true`, sel))(ctx, tg)
			return err
		})
	}
	step("log in",
		chromedp.Navigate(p.base+"/board"),
		chromedp.WaitVisible(chromedp.CSS(`#login #token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), p.token),
		submit(`#login`),
		chromedp.WaitVisible(chromedp.CSS(`#flow #counts`)),
	)

	var created orderResp
	if code := p.call("POST", "/orders", orderReq{"c-alice", "EUR", []item{{"B1", 2, 700}}}, &created); code != 201 {
		t.Fatalf("place order: %d", code)
	}
	row := fmt.Sprintf(`#recent tr[data-order-id=%q] .status`, created.OrderID)
	step("the order reaches SHIPPED on the page",
		chromedp.WaitVisible(chromedp.CSS(row)),
		until(fmt.Sprintf(`document.querySelector(%q)?.textContent.trim() === "SHIPPED"`, row), time.Minute),
		shot("shipped"),
	)

	step("open the order's timeline",
		chromedp.SetValue(chromedp.CSS(`#order-id`), created.OrderID),
		submit(`#search`),
		until(`document.querySelectorAll("#timeline tbody tr").length >= 5`, 30*time.Second),
		shot("timeline"),
	)
	events, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	timeline := text(`#timeline`)
	for _, want := range []string{string(p.topo.OrderEvents()), string(p.topo.PaymentEvents()), string(p.topo.ShippingEvents()), "OrderPlaced", "ShipmentCreated"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	t.Logf("timeline of %s: %d events", created.OrderID, events)

	// a poison message on the order events: the dead-letter panel shows it
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, kafka.NewSaramaConfig("itest-board"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(p.topo.OrderEvents()),
		Key: sarama.StringEncoder("o-board-poison"), Value: sarama.ByteEncoder(`{"not":"avro"}`)}); err != nil {
		t.Fatal(err)
	}
	dlq := fmt.Sprintf(`#dead-letters tr[data-topic=%q] .count`, string(p.topo.OrderEvents())+topology.DLQSuffix)
	step("the poison message appears in the dead-letter panel",
		until(fmt.Sprintf(`Number(document.querySelector(%q)?.textContent) >= 1`, dlq), time.Minute),
		chromedp.ScrollIntoView(chromedp.CSS(`#health`)),
		shot("dead-letters"),
	)
	deadLetters := text(`#dead-letters`)
	if !strings.Contains(deadLetters, "bad_magic_byte") {
		t.Errorf("dead-letter panel lacks the reason bad_magic_byte:\n%s", deadLetters)
	}

	// a return of the order: the returns panel shows its step and what it waits for
	code, ret := p.requestReturn(created.OrderID, "board", returnReq{Lines: []returnLine{{"B1", 1}}, Reason: "too small"})
	if code != 202 {
		t.Fatalf("request return: %d %+v", code, ret)
	}
	step("the return appears in the returns panel",
		until(fmt.Sprintf(`document.querySelector("#returns")?.textContent.includes(%q) && document.querySelector("#returns").textContent.includes("LABEL_ISSUED")`, ret.ReturnID), time.Minute),
		chromedp.ScrollIntoView(chromedp.CSS(`#flow`)),
		shot("overview"),
	)

	// a customer token: its own order, no operations panel
	step("log in as a customer",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`sessionStorage.clear(), true`)(ctx, tg)
			return err
		}),
		chromedp.Navigate(p.base+"/board"),
		chromedp.WaitVisible(chromedp.CSS(`#login #token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), "0123456789abcdef-alice"),
		submit(`#login`),
		chromedp.SetValue(chromedp.CSS(`#order-id`), created.OrderID),
		submit(`#search`),
		until(`document.querySelector("#order")?.textContent.includes("SHIPPED")`, 30*time.Second),
		until(`document.querySelector("#health")?.textContent.includes("operations scope")`, 10*time.Second),
		shot("customer"),
	)
	health := text(`#health`)
	if !strings.Contains(health, "operations scope") || strings.Contains(health, string(p.topo.OrderEvents())+topology.DLQSuffix) {
		t.Errorf("a customer sees the health panel:\n%s", health)
	}
}
