package board

import (
	"context"
	"time"
)

// cached keeps the last answer of a load for ttl, and its error as long: a board polled by
// several pages runs the load at most once per ttl, and a failing dependency is not asked again
// by every request. Loads run one at a time (make it with newCached); a caller waiting for another's load gives up when
// its ctx ends.
type cached[T any] struct {
	ttl time.Duration

	sem   chan struct{} // the one load in progress (made on first use)
	at    time.Time     // when val/err were loaded; guarded by sem
	val   T
	err   error
	valid bool
}

func (c *cached[T]) get(ctx context.Context, load func(context.Context) (T, error)) (T, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.valid && time.Since(c.at) < c.ttl {
		return c.val, c.err
	}
	val, err := load(ctx)
	if err != nil && ctx.Err() != nil {
		return val, err // this caller gave up: not an answer to keep for the others
	}
	c.val, c.err, c.at, c.valid = val, err, time.Now(), true
	return val, err
}

// invalidate makes the next get load again.
func (c *cached[T]) invalidate() {
	c.sem <- struct{}{}
	c.valid = false
	<-c.sem
}

func newCached[T any](ttl time.Duration) cached[T] {
	return cached[T]{ttl: ttl, sem: make(chan struct{}, 1)}
}
