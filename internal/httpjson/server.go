package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
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

// ExactRoutes serves mux with JSON errors: what the mux has no route for gets a JSON 404 or 405
// (the mux's own are plain text), and a path not in canonical form ("//", "/./", "/../") a JSON
// 404 where the mux would redirect with an HTML body. With trailingSlash, a canonical path may end
// in "/" (a subtree route such as "/board/"). writeError writes each error (the caller's headers
// and body shape).
func ExactRoutes(mux *http.ServeMux, trailingSlash bool, writeError func(w http.ResponseWriter, code int, msg string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		clean := path.Clean(p)
		if trailingSlash && strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if p == "" || clean != p {
			writeError(w, http.StatusNotFound, "no such endpoint (paths are matched exactly)")
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			mux.ServeHTTP(&muxError{ResponseWriter: w, writeError: writeError}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// muxError replaces the mux's plain-text error with a JSON one.
type muxError struct {
	http.ResponseWriter
	writeError func(w http.ResponseWriter, code int, msg string)
	code       int
}

func (e *muxError) WriteHeader(code int) {
	e.code = code
	msg := http.StatusText(code)
	switch code {
	case http.StatusMethodNotAllowed:
		msg = "method not allowed on this path"
	case http.StatusNotFound:
		msg = "no such endpoint"
	}
	e.ResponseWriter.Header().Del("X-Content-Type-Options") // the mux's, set for its text body
	e.writeError(e.ResponseWriter, code, msg)
}

func (e *muxError) Write(b []byte) (int, error) {
	if e.code != 0 {
		return len(b), nil // the plain-text body is replaced
	}
	return e.ResponseWriter.Write(b)
}
