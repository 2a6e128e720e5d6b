package connectors

import (
	"fmt"
	"strings"

	"github.com/orderflow/orderflow/internal/httpjson"
)

// ErrNotFound matches an answer of Connect saying it does not know the named connector (404).
var ErrNotFound = httpjson.ErrNotFound

// APIError is a non-2xx answer from the Connect REST API.
type APIError = httpjson.Error

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
