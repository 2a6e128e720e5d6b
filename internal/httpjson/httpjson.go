// Package httpjson is the one helper orderflow's REST clients (the schema registry's
// Confluent-compatible API, Kafka Connect) call JSON APIs with: a body encoded as JSON, the
// answer decoded into out, and any non-2xx answer returned as an *Error carrying the service's
// own message. A Client may authenticate with HTTP basic auth (Client.Auth); a BasicAuth never
// prints its password, and no error of this package carries it.
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s %s %s: %d %s", e.Service, e.Method, e.Path, e.StatusCode, msg)
}

// NewError builds the *Error of a non-2xx answer from its body: the body's JSON "message" field
// when it has one, else the body itself (trimmed).
func NewError(service, method, path string, status int, body []byte) *Error {
	var e struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	return &Error{Service: service, Method: method, Path: path, StatusCode: status, Message: msg}
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

// BasicAuth is a user name and password for HTTP basic authentication. Printing it with any fmt
// verb shows the user name and "xxxxx" in place of the password.
type BasicAuth struct {
	Username string
	Password string
}

// String returns "<username>:xxxxx".
func (b BasicAuth) String() string { return b.Username + ":xxxxx" }

// Format makes every fmt verb (%v, %+v, %#v, %s …) print String, never the password.
func (b BasicAuth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// SplitUserInfo takes the user info out of rawURL (http://user:pass@host/… → http://host/…) and
// returns the URL without it, and the user info as a *BasicAuth (nil when rawURL carries none or
// does not parse; then rawURL is returned unchanged).
func SplitUserInfo(rawURL string) (string, *BasicAuth) {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL, nil
	}
	password, _ := u.User.Password()
	auth := &BasicAuth{Username: u.User.Username(), Password: password}
	u.User = nil
	return u.String(), auth
}

// Client calls one service.
type Client struct {
	Service     string // names the service in errors
	Base        string // base URL; paths are appended to it
	HTTP        *http.Client
	ContentType string // of request bodies and the first accepted answer type (default application/json)
	MaxAnswer   int64  // bytes of an answer read at most (default 8 MiB)
	// Auth, when not nil, is sent with every request as HTTP basic authentication (it takes
	// precedence over user info in Base).
	Auth *BasicAuth
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
		var ue *url.Error
		if errors.As(err, &ue) {
			// url's parse errors quote the whole URL, user info and all
			return fmt.Errorf("%s %s %s: the base URL does not parse", c.Service, method, path)
		}
		return fmt.Errorf("%s %s %s: %w", c.Service, method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", ctype+", application/json")
	if c.Auth != nil {
		req.SetBasicAuth(c.Auth.Username, c.Auth.Password)
	}
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
		return NewError(c.Service, method, path, resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s %s: decode answer: %w", c.Service, method, path, err)
		}
	}
	return nil
}
