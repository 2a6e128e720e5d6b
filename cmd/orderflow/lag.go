package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/endpoints"
	"github.com/orderflow/orderflow/internal/lag"
	"github.com/orderflow/orderflow/pipelines/catalog"
)

func newLagCmd(cfg *endpoints.Endpoints) *cobra.Command {
	var d deployment
	var slo time.Duration
	var all bool
	cmd := &cobra.Command{
		Use:   "lag",
		Short: "Print each processor group's lag per partition; exit 1 when any partition breaks the SLO",
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := d.topology()
			if err != nil {
				return err
			}
			meter, err := lag.NewMeter(cfg.Brokers)
			if err != nil {
				return err
			}
			defer meter.Close()
			ps, err := meter.Measure(cmd.Context(), catalog.Inputs(t))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "GROUP\tTOPIC\tPART\tEND\tCOMMITTED\tLAG\tTIME LAG\tSLO\t")
			for _, p := range ps {
				if !all && p.Lag == 0 {
					continue
				}
				verdict := "ok"
				if len(lag.Breaches([]lag.Partition{p}, slo)) > 0 {
					verdict = "BREACH"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t\n", p.Group, p.Topic, p.Partition, p.End, p.Committed, p.Lag,
					p.TimeLag.Round(time.Millisecond), verdict)
			}
			tw.Flush()
			total := lag.Total(ps)
			breaches := lag.Breaches(ps, slo)
			fmt.Fprintf(cmd.OutOrStdout(), "%d partitions, total lag %d messages, %d over the %s SLO\n", len(ps), total, len(breaches), slo)
			if len(breaches) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("lag SLO of %s broken on %d partition(s)", slo, len(breaches))}
			}
			return nil
		},
	}
	d.bind(cmd)
	cmd.Flags().DurationVar(&slo, "slo", lag.DefaultSLO, "largest acceptable time lag (age of the oldest unprocessed message)")
	cmd.Flags().BoolVar(&all, "all", false, "also list partitions without lag")
	return cmd
}
