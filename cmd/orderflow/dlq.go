package main

import (
	"encoding/hex"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/pipelines/deadletter"
	"github.com/orderflow/orderflow/processors/kernel/streams"
)

func newDLQCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect and replay dead-letter topics (<topic>.dlq)"}
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "Count the dead letters of every topic of the deployment, with the latest ones",
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := d.topology()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DLQ TOPIC\tCOUNT\tLATEST ORIGIN\tPROCESSOR\tKIND\tMESSAGE")
			for _, topic := range t.DeadLetterTopics() {
				entries, err := deadletter.Read(cmd.Context(), cfg.Brokers, string(topic), 0)
				if err != nil {
					return err
				}
				if len(entries) == 0 {
					fmt.Fprintf(tw, "%s\t0\t\t\t\t\n", topic)
					continue
				}
				for i, e := range entries[max(0, len(entries)-limit):] {
					count := ""
					if i == 0 {
						count = fmt.Sprint(len(entries))
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.80s\n", topic, count, e.Origin(), e.Headers[streams.HeaderDLQProcessor],
						e.Headers[streams.HeaderDLQKind], e.Headers[streams.HeaderDLQMessage])
				}
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "latest", 3, "dead letters shown per topic")
	d.bind(list)

	show := &cobra.Command{
		Use:   "show DLQ-TOPIC",
		Short: "Print every dead letter of a topic: headers, key and payload (hex)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := deadletter.Read(cmd.Context(), cfg.Brokers, args[0], limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, e := range entries {
				fmt.Fprintf(out, "%s/%d@%d  key=%q  at %s\n", e.Topic, e.Partition, e.Offset, e.Key, e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"))
				keys := make([]string, 0, len(e.Headers))
				for k := range e.Headers {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(out, "  %s: %s\n", k, e.Headers[k])
				}
				fmt.Fprintf(out, "  payload (%d bytes): %s\n\n", len(e.Value), hex.EncodeToString(e.Value[:min(len(e.Value), 64)]))
			}
			fmt.Fprintf(out, "%d dead letter(s)\n", len(entries))
			return nil
		},
	}
	show.Flags().IntVar(&limit, "limit", 50, "latest dead letters to print (0: all)")

	replay := &cobra.Command{
		Use:   "replay DLQ-TOPIC",
		Short: "Re-publish the dead letters not replayed before to their origin topic (after a fix)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := deadletter.Replay(cmd.Context(), cfg.Brokers, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d message(s) from %s\n", n, args[0])
			return nil
		},
	}
	cmd.AddCommand(list, show, replay)
	return cmd
}
