package connectors

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned when Connect does not know the named connector.
var ErrNotFound = errors.New("connector not found")

// APIError is a non-2xx answer from the Connect REST API.
type APIError struct {
	Method, Path string
	StatusCode   int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("connect %s %s: %d %s", e.Method, e.Path, e.StatusCode, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) hold for 404 answers.
func (e *APIError) Is(target error) bool { return target == ErrNotFound && e.StatusCode == 404 }

// InvalidConfigError lists every setting Connect's validate endpoint rejected.
type InvalidConfigError struct {
	Connector string
	Problems  []string // "setting: message"
}

func (e *InvalidConfigError) Error() string {
	return fmt.Sprintf("connector %s has an invalid configuration: %s", e.Connector, strings.Join(e.Problems, "; "))
}

// FailedError reports a connector or task that Connect marked FAILED, with its trace's first line.
type FailedError struct {
	Connector string
	Where     string // "connector" or "task 0"
	Trace     string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("connector %s: %s FAILED: %s", e.Connector, e.Where, e.Trace)
}
