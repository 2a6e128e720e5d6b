package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The server side: orderflow's HTTP handlers (the API, the board) answer JSON with Write and
// WriteError, and read request bodies with DecodeBody.

// Write answers v as JSON with status code.
func Write(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"error": msg} with status code.
func WriteError(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}

// DecodeBody reads one JSON object with no unknown fields, and nothing after it, from a body of
// at most maxBytes into v. Otherwise it answers 413 (too large) or 400 (empty, malformed) with a
// JSON error and returns false.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any, maxBytes int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// strict: nothing but white space may follow the value (a stray "}" included)
		if _, next := dec.Token(); !errors.Is(next, io.EOF) {
			err = errors.New("body holds data after the JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBytes))
	case errors.Is(err, io.EOF):
		WriteError(w, http.StatusBadRequest, "empty body: a JSON object is required")
	default:
		WriteError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
	return false
}
