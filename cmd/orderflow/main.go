// Command orderflow runs and operates the orderflow pipeline: the order API, the Goka processors,
// the Debezium connector, topics and schemas. Each verb is a thin wiring of packages under
// pipelines/, connectors/, processors/ and schemas/.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cmd/internal/cli"
	"github.com/orderflow/orderflow/internal/endpoints"
)

// exitError carries a process exit code for verbs whose failure is an answer (e.g. a failed check).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))

	err := newRootCmd().ExecuteContext(ctx)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "orderflow:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "orderflow:", err)
	os.Exit(1)
}

func newRootCmd() *cobra.Command {
	cfg := endpoints.FromEnv()
	root := &cobra.Command{
		Use:           "orderflow",
		Short:         "CDC-driven order fulfilment: outbox → Debezium → Kafka → Goka processors → status views",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			return cli.ConfigureKafka()
		},
	}
	cli.BindEndpoints(root, &cfg)

	root.AddCommand(
		newStackCmd(&cfg),
		newConnectorsCmd(&cfg),
		newSchemasCmd(&cfg),
		newTopicsCmd(&cfg),
		newSetupCmd(&cfg),
		newRunCmd(&cfg, "run", "Run the processors and the API in one process (or some of them: --processors, --api)", "all", true),
		newRunCmd(&cfg, "api", "Run only the HTTP API and its views", "none", true),
		newLoadCmd(&cfg),
		newDLQCmd(&cfg),
		newLagCmd(&cfg),
		newReprocessCmd(&cfg),
		newAuthCmd(),
		newKeysCmd(&cfg),
	)
	return root
}
