package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/processors/orders"
)

// Personal data: POST /orders takes customer_name, customer_email and shipping_address (the store
// seals them with the customer's data key before anything is written); GET /orders/{id} answers
// them revealed under "personal" to whoever may see the order (its customer, operations); and
// DELETE /customers/{customer_id} (operations) erases a customer: its data keys are destroyed, so
// its personal data reads as "[erased]" everywhere from then on.

// personalResponse is an order's personal data as GET /orders/{id} answers it: each field the
// plaintext, "" when the order did not carry it, or "[erased]".
type personalResponse struct {
	CustomerName    string `json:"customer_name"`
	CustomerEmail   string `json:"customer_email"`
	ShippingAddress string `json:"shipping_address"`
}

// toPersonal returns the "personal" object of an order's answer, or nil for an order without
// personal data.
func toPersonal(p orders.PersonalData) *personalResponse {
	if p == (orders.PersonalData{}) {
		return nil
	}
	return &personalResponse{CustomerName: p.Name, CustomerEmail: p.Email, ShippingAddress: p.Address}
}

// eraseCustomer is DELETE /customers/{customer_id}: crypto-shredding of the customer's personal
// data (operations only). It answers 200 with how many data keys it destroyed; erasing again
// answers 0 (idempotent).
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeOperations) {
		return
	}
	id := r.PathValue("customer_id")
	if !orders.ValidCustomerID(id) {
		writeError(w, http.StatusBadRequest, "malformed customer id (1-128 letters, digits or ._:- characters)")
		return
	}
	ctx, end := s.span(r, "DELETE /customers/{customer_id}")
	defer end()
	dbctx, cancel := context.WithTimeout(ctx, DBTimeout)
	defer cancel()
	keys, err := s.orders.EraseCustomer(dbctx, id)
	switch {
	case errors.Is(err, orders.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		internalError(w, r, http.StatusServiceUnavailable, "could not erase the customer", err)
		return
	}
	slog.Info("api: customer erased", "customer_id", id, "erased_keys", keys, "by", principal(r).ID)
	writeJSON(w, http.StatusOK, map[string]any{"customer_id": id, "erased_keys": keys})
}
