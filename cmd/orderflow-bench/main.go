// Command orderflow-bench runs the benchmarks on a running stack and writes BENCHMARKS.md. It
// starts the processors as `orderflow run` processes: --orderflow names that binary.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/orderflow/orderflow/cmd/internal/cli"
	"github.com/orderflow/orderflow/internal/endpoints"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	cfg := endpoints.FromEnv()
	root := newBenchCmd(&cfg)
	root.Use = "orderflow-bench"
	root.SilenceUsage, root.SilenceErrors = true, true
	cli.BindEndpoints(root, &cfg)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "orderflow-bench:", err)
		os.Exit(1)
	}
}

// defaultOrderflow is $ORDERFLOW_BIN, else the orderflow binary next to this one.
func defaultOrderflow() string {
	if v := os.Getenv("ORDERFLOW_BIN"); v != "" {
		return v
	}
	exe, err := os.Executable()
	if err != nil {
		return "orderflow"
	}
	return filepath.Join(filepath.Dir(exe), "orderflow")
}
