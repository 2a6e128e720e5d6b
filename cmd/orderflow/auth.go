package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/auth"
)

func newAuthCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "auth", Short: "API credentials"}
	var name, scopes, customer string
	var rate float64
	newKey := &cobra.Command{
		Use:   "new-key",
		Short: "Print a new API key as a line of an API keys file (ORDERFLOW_API_KEYS_FILE); its token is in the second field",
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, err := auth.NewToken()
			if err != nil {
				return err
			}
			line := fmt.Sprintf("%s %s %s", name, token, scopes)
			if customer != "" {
				line += " customer=" + customer
			}
			if rate > 0 {
				line += fmt.Sprintf(" rate=%g", rate)
			}
			if _, err := auth.ParseKeys(strings.NewReader(line)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	}
	newKey.Flags().StringVar(&name, "name", "ops", "the key's name (in logs and rate limits)")
	newKey.Flags().StringVar(&scopes, "scopes", auth.ScopeOperations, "comma list of "+auth.ScopeCustomer+", "+auth.ScopeOperations)
	newKey.Flags().StringVar(&customer, "customer", "", "the customer a "+auth.ScopeCustomer+" key acts for")
	newKey.Flags().Float64Var(&rate, "rate", 0, "requests per second the key may make (0: the API's default, --rate-limit of run)")
	cmd.AddCommand(newKey)
	return cmd
}
