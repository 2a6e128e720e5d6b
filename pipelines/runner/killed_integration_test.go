//go:build integration

// kill -9 mid-load; see crash_integration_test.go for the helpers and why these tests run apart.

package runner_test

import (
	"syscall"
	"testing"
	"time"
)

// kill -9 of the processors in the middle of a 2000-order load, then a restart: every order
// reaches the outcome it has without the crash; no double reservation or refund; stock conserved.
func TestIntegrationProcessorKilledMidLoad(t *testing.T) {
	p := startAPIOnly(t)
	first := p.spawn(t, "a")
	p.loadAndCheck(t, 2000, 250, func() {
		time.Sleep(4 * time.Second)
		first.signal(t, syscall.SIGKILL)
		time.Sleep(time.Second)
		p.spawn(t, "a") // same state directory, as a restarted pod would have
	})
}
