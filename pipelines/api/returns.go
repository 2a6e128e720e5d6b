package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/processors/orders"
	"github.com/orderflow/orderflow/processors/returns"
	"github.com/orderflow/orderflow/schemas"
)

// The return endpoints: a customer asks to return units of a shipped order (POST
// /orders/{id}/returns), anyone who may see the order follows the return (GET /returns/{id}), and
// operations record the parcel's arrival (POST /returns/{id}/received). Writes go through the
// order store (a row and its outbox event in one transaction); reads come from the returns view,
// which the returns orchestrator's table feeds.

// returnRequestBody is the body of POST /orders/{id}/returns.
type returnRequestBody struct {
	Lines []struct {
		SKU      string `json:"sku"`
		Quantity *int   `json:"quantity"`
	} `json:"lines"`
	Reason string `json:"reason"`
}

// visibleOrder looks up an order for the caller: its status (found is false while it is placed
// but not yet in the status view) and ok. ok is false once it has answered: 404 with notFound for
// an unknown order, and for another customer's, which a customer token must not learn exists;
// 503 when a dependency fails.
func (s *Server) visibleOrder(w http.ResponseWriter, r *http.Request, id, notFound string) (st schemas.OrderStatus, found, ok bool) {
	st, found, err := s.reader.Status(id)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "status view unavailable", err)
		return st, false, false
	}
	customer := st.CustomerID
	if !found || customer == "" {
		dbctx, cancel := context.WithTimeout(r.Context(), DBTimeout)
		owner, placed, err := s.orders.Owner(dbctx, id)
		cancel()
		if err != nil {
			internalError(w, r, http.StatusServiceUnavailable, "order store unavailable", err)
			return st, false, false
		}
		if !placed {
			writeError(w, http.StatusNotFound, notFound)
			return st, false, false
		}
		customer = owner
	}
	if !ownsOrder(r, customer) {
		writeError(w, http.StatusNotFound, notFound)
		return st, false, false
	}
	return st, found, true
}

func (s *Server) requestReturn(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeCustomer, auth.ScopeOperations) {
		return
	}
	orderID := r.PathValue("id")
	if !orderIDRe.MatchString(orderID) {
		writeError(w, http.StatusBadRequest, "malformed order id")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if err := orders.CheckIdempotencyKey(key); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var body returnRequestBody
	if !decodeBody(w, r, &body) {
		return
	}
	if len(body.Lines) == 0 {
		writeError(w, http.StatusBadRequest, `lines must hold at least one {"sku": …, "quantity": N}`)
		return
	}
	req := orders.ReturnRequest{OrderID: orderID, Reason: body.Reason}
	for i, l := range body.Lines {
		if l.SKU == "" || l.Quantity == nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("lines[%d] needs a sku and a quantity", i))
			return
		}
		req.Lines = append(req.Lines, orders.ReturnItem{SKU: l.SKU, Quantity: *l.Quantity})
	}

	st, found, ok := s.visibleOrder(w, r, orderID, "unknown order id "+orderID)
	if !ok {
		return
	}
	status := schemas.StatusPlaced // placed, not yet in the status view
	if found {
		status = st.Status
	}
	if status != schemas.StatusShipped {
		writeError(w, http.StatusConflict, fmt.Sprintf("order %s is %s: only shipped orders can be returned", orderID, status))
		return
	}
	state, _, err := s.reader.Returns(orderID)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "returns view unavailable", err)
		return
	}
	returnID := schemas.ReturnID(orderID, key)
	known := state.Find(returnID)
	if known < 0 && len(state.Returns) >= returns.MaxReturnsPerOrder {
		writeError(w, http.StatusConflict, fmt.Sprintf("order %s already has %d returns, the most one order may have", orderID, len(state.Returns)))
		return
	}
	returned := make(map[string]int64, len(req.Lines))
	for _, l := range req.Lines {
		returned[l.SKU] = state.Returned(l.SKU)
	}

	ctx, end := s.span(r, "POST /orders/{id}/returns")
	defer end()
	dbctx, cancel := context.WithTimeout(ctx, DBTimeout)
	defer cancel()
	acc, err := s.orders.RequestReturn(dbctx, req, returned, key, s.traceparent(ctx, r))
	switch {
	case errors.Is(err, orders.ErrNotFound):
		writeError(w, http.StatusNotFound, "unknown order id "+orderID)
		return
	case errors.Is(err, orders.ErrInvalid):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case errors.Is(err, orders.ErrIdempotencyConflict):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		internalError(w, r, http.StatusServiceUnavailable, "could not request the return", err)
		return
	}
	answer := returns.Requested
	if !acc.Created && known >= 0 {
		answer = state.Returns[known].Status
	}
	w.Header().Set("Location", "/returns/"+acc.ReturnID)
	writeJSON(w, http.StatusAccepted, map[string]string{"return_id": acc.ReturnID, "status": answer})
}

type returnLineResponse struct {
	SKU            string `json:"sku"`
	Quantity       int32  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
}

type returnResponse struct {
	ReturnID      string               `json:"return_id"`
	OrderID       string               `json:"order_id"`
	Status        string               `json:"status"`
	Lines         []returnLineResponse `json:"lines"`
	Currency      string               `json:"currency"`
	Reason        string               `json:"reason"`
	Condition     string               `json:"condition"`
	LabelID       string               `json:"label_id"`
	RefundMinor   int64                `json:"refund_minor"`
	RestockedSKUs []string             `json:"restocked_skus"`
	WindowEnds    *time.Time           `json:"window_ends"`
	History       []returns.Step       `json:"history"`
	WaitingFor    string               `json:"waiting_for"`
}

func toReturnResponse(orderID string, ret returns.Return) returnResponse {
	resp := returnResponse{ReturnID: ret.ID, OrderID: orderID, Status: ret.Status, Lines: []returnLineResponse{},
		Currency: ret.Currency, Reason: ret.Reason, Condition: string(ret.Condition), LabelID: ret.LabelID,
		RefundMinor: ret.RefundMinor, RestockedSKUs: append([]string{}, ret.RestockedSKUs...),
		History: append([]returns.Step{}, ret.History...), WaitingFor: returns.WaitingFor(ret)}
	for _, l := range ret.Lines {
		resp.Lines = append(resp.Lines, returnLineResponse{SKU: l.SKU, Quantity: l.Quantity, UnitPriceMinor: l.UnitPriceMinor})
	}
	if !ret.WindowEnds.IsZero() {
		ends := ret.WindowEnds
		resp.WindowEnds = &ends
	}
	return resp
}

// notProcessed is the waiting_for of a return the store holds and the returns view does not yet.
const notProcessed = "returns orchestrator: the request is not processed yet"

func (s *Server) getReturn(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeCustomer, auth.ScopeOperations) {
		return
	}
	id := r.PathValue("id")
	notFound := "unknown return id " + id
	orderID, ok := schemas.ReturnOrder(id)
	if !ok || !orderIDRe.MatchString(orderID) {
		writeError(w, http.StatusNotFound, notFound)
		return
	}
	// The order first: another customer's return is 404 as an unknown one is.
	if _, _, ok := s.visibleOrder(w, r, orderID, notFound); !ok {
		return
	}
	state, _, err := s.reader.Returns(orderID)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "returns view unavailable", err)
		return
	}
	if i := state.Find(id); i >= 0 {
		writeJSON(w, http.StatusOK, toReturnResponse(orderID, state.Returns[i]))
		return
	}
	if !s.storedReturn(w, r, id, orderID, notFound) {
		return
	}
	// requested, not yet taken up by the returns orchestrator
	writeJSON(w, http.StatusOK, returnResponse{ReturnID: id, OrderID: orderID, Status: returns.Requested,
		Lines: []returnLineResponse{}, RestockedSKUs: []string{}, History: []returns.Step{}, WaitingFor: notProcessed})
}

func (s *Server) receiveReturn(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, auth.ScopeOperations) {
		return
	}
	id := r.PathValue("id")
	var body struct {
		Condition *string `json:"condition"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Condition == nil {
		writeError(w, http.StatusBadRequest, `body must be {"condition": "ok"|"damaged"}`)
		return
	}
	condition, err := orders.ParseReturnCondition(*body.Condition)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	notFound := "unknown return id " + id
	orderID, ok := schemas.ReturnOrder(id)
	if !ok || !orderIDRe.MatchString(orderID) {
		writeError(w, http.StatusNotFound, notFound)
		return
	}
	state, _, err := s.reader.Returns(orderID)
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "returns view unavailable", err)
		return
	}
	const notIssued = "the return label is not issued yet; retry"
	if i := state.Find(id); i >= 0 {
		ret := state.Returns[i]
		switch {
		case ret.Status == returns.LabelIssued:
		case ret.Condition != "":
			// received before: the store tells a retry (202) from another condition (409)
		case ret.Status == returns.Requested:
			writeError(w, http.StatusConflict, notIssued)
			return
		default:
			writeError(w, http.StatusConflict, fmt.Sprintf("return is %s: only a return whose label is issued can be received", ret.Status))
			return
		}
	} else {
		if !s.storedReturn(w, r, id, orderID, notFound) {
			return
		}
		writeError(w, http.StatusConflict, notIssued)
		return
	}

	ctx, end := s.span(r, "POST /returns/{id}/received")
	defer end()
	dbctx, cancel := context.WithTimeout(ctx, DBTimeout)
	defer cancel()
	_, err = s.orders.ReceiveReturn(dbctx, id, condition, s.traceparent(ctx, r))
	switch {
	case errors.Is(err, orders.ErrNotFound):
		writeError(w, http.StatusNotFound, notFound)
		return
	case errors.Is(err, orders.ErrConflict), errors.Is(err, orders.ErrIdempotencyConflict):
		writeError(w, http.StatusConflict, err.Error())
		return
	case errors.Is(err, orders.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		internalError(w, r, http.StatusServiceUnavailable, "could not record the receipt", err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"return_id": id, "status": returns.Received})
}

// storedReturn reports whether the order store has the return id of order orderID (requested,
// perhaps not yet taken up by the orchestrator). Otherwise it has answered: 404 with notFound, or
// 503 when the store fails.
func (s *Server) storedReturn(w http.ResponseWriter, r *http.Request, id, orderID, notFound string) bool {
	dbctx, cancel := context.WithTimeout(r.Context(), DBTimeout)
	stored, found, err := s.orders.ReturnOrderID(dbctx, id)
	cancel()
	if err != nil {
		internalError(w, r, http.StatusServiceUnavailable, "order store unavailable", err)
		return false
	}
	if !found || stored != orderID {
		writeError(w, http.StatusNotFound, notFound)
		return false
	}
	return true
}
