package board

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpjson"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, code, v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unavailable answers 503 with a generic message and a request id; the details go to the log
// under that id, never to the caller.
func unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	id := newRequestID()
	slog.Error("board: "+what, "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("X-Request-Id", id)
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": what, "request_id": id})
}

// decodeBody reads one JSON object with no unknown fields from a body of at most MaxBody bytes;
// it answers 400 or 413 and returns false otherwise.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return httpjson.DecodeBody(w, r, v, MaxBody)
}

type principalKey struct{}

// anonymous is the caller when the board runs without authentication.
var anonymous = auth.Principal{ID: "anonymous", Scopes: []string{auth.ScopeOperations}}

func principal(r *http.Request) auth.Principal {
	if p, ok := r.Context().Value(principalKey{}).(auth.Principal); ok {
		return p
	}
	return anonymous
}

// authenticated identifies the caller by its bearer token (401 without a valid one) and hands
// the Principal to next; without an authenticator every caller is anonymous, with the
// operations scope.
func (b *Board) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.cfg.Auth == nil {
			next.ServeHTTP(w, r)
			return
		}
		p, err := auth.FromRequest(b.cfg.Auth, r)
		if err != nil {
			slog.Info("board: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderflow"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer <token>)")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// requireOperations answers 403 unless the caller holds the operations scope.
func requireOperations(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).Can(auth.ScopeOperations) {
			writeError(w, http.StatusForbidden, "this token lacks the operations scope")
			return
		}
		next(w, r)
	})
}

// recoverJSON turns a panic into a 503 with a request id (the panic goes to the log).
func recoverJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				unavailable(w, r, "internal error", fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
