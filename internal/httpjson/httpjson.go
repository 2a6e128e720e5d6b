// Package httpjson is the one helper orderflow's REST clients (the schema registry's
// Confluent-compatible API, Kafka Connect) call JSON APIs with: a body encoded as JSON, the
// answer decoded into out, and any non-2xx answer returned as an *Error carrying the service's
// own message.
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrNotFound matches (errors.Is) an *Error whose status is 404.
var ErrNotFound = errors.New("not found")

// Error is a non-2xx answer.
type Error struct {
	Service      string // "registry", "connect": prefixes the message
	Method, Path string
	StatusCode   int
	Message      string // the answer's "message" field, else its body
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s %s: %d %s", e.Service, e.Method, e.Path, e.StatusCode, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) hold for 404 answers.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// StatusOf returns the status of an *Error in err's chain (0 when there is none).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// Client calls one service.
type Client struct {
	Service     string // names the service in errors
	Base        string // base URL; paths are appended to it
	HTTP        *http.Client
	ContentType string // of request bodies and the first accepted answer type (default application/json)
	MaxAnswer   int64  // bytes of an answer read at most (default 8 MiB)
}

// Do sends body (when not nil) as JSON with method to path and decodes a 2xx answer into out
// (when not nil and the answer is not empty).
func (c Client) Do(ctx context.Context, method, path string, body, out any) error {
	ctype := c.ContentType
	if ctype == "" {
		ctype = "application/json"
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s %s: encode body: %w", c.Service, method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", c.Service, method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", ctype+", application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", c.Service, method, path, err)
	}
	defer resp.Body.Close()
	limit := c.MaxAnswer
	if limit <= 0 {
		limit = 8 << 20
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return fmt.Errorf("%s %s %s: read answer: %w", c.Service, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return &Error{Service: c.Service, Method: method, Path: path, StatusCode: resp.StatusCode, Message: msg}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s %s: decode answer: %w", c.Service, method, path, err)
		}
	}
	return nil
}
