package views

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/orderflow/orderflow/schemas"
)

// SubscriberBuffer is how many status updates a subscriber may have unread before further ones
// are dropped for it.
const SubscriberBuffer = 256

// statusUpdates fans the status view's updates out to subscribers (Subscribe), e.g. the board's
// live stream.
//
// Consumes: every value the status view stores (publish, from the view's update callback).
// Keeps: the subscribers, each with a buffered channel of SubscriberBuffer updates, and how many
// updates were dropped for slow subscribers. Emits: each stored value, decoded with the view's
// codec, to every subscriber whose buffer has room; a full subscriber misses the update, the view
// never waits for a reader. Nothing is decoded while nobody subscribes, nor while the view
// recovers its table (a replay of old values, not changes).
type statusUpdates struct {
	codec     goka.Codec
	recovered func() bool // the view's Recovered; nil: publish at once

	mu          sync.Mutex
	subscribers map[chan schemas.OrderStatus]struct{}
	count       atomic.Int32 // len(subscribers), read without the lock on every update
	dropped     atomic.Int64
}

func newStatusUpdates(c goka.Codec) *statusUpdates {
	return &statusUpdates{codec: c, subscribers: map[chan schemas.OrderStatus]struct{}{}}
}

// subscribe registers a subscriber. cancel removes it and closes its channel; it may be called
// more than once and from any goroutine. On a nil statusUpdates (views built without one) the
// channel never delivers.
func (u *statusUpdates) subscribe() (<-chan schemas.OrderStatus, func()) {
	ch := make(chan schemas.OrderStatus, SubscriberBuffer)
	if u == nil {
		return ch, func() {}
	}
	u.mu.Lock()
	u.subscribers[ch] = struct{}{}
	u.count.Store(int32(len(u.subscribers)))
	u.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			delete(u.subscribers, ch)
			u.count.Store(int32(len(u.subscribers)))
			close(ch) // under the lock publish sends under: never a send on a closed channel
		})
	}
}

// publish decodes value (as stored by the view; nil is a deletion, not announced) and hands it
// to every subscriber without blocking.
func (u *statusUpdates) publish(key string, value []byte) {
	if u == nil || value == nil || u.count.Load() == 0 {
		return
	}
	if u.recovered != nil && !u.recovered() {
		return
	}
	decoded, err := u.codec.Decode(value)
	if err != nil {
		slog.Debug("views: status update not decodable; not published", "key", key, "err", err)
		return
	}
	st, ok := decoded.(schemas.OrderStatus)
	if !ok { // a streams.CorruptValue of the tolerant codec
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for ch := range u.subscribers {
		select {
		case ch <- st:
		default:
			u.dropped.Add(1)
		}
	}
}

// subscriberCount returns how many subscribers are registered.
func (u *statusUpdates) subscriberCount() int { return int(u.count.Load()) }

// storeNotifyAndPublish is the status view's update callback: it stores the value and wakes its
// waiters (keyChanges.storeAndNotify), then publishes it to the subscribers.
func storeNotifyAndPublish(changes *keyChanges, updates *statusUpdates) goka.UpdateCallback {
	return func(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
		if err := changes.storeAndNotify(ctx, s, key, value); err != nil {
			return err // already says which key
		}
		updates.publish(key, value)
		return nil
	}
}

// Subscribe returns the status changes of every order, as the status view stores them, from now
// on, until cancel is called (which closes updates). A subscriber that falls SubscriberBuffer
// updates behind misses updates instead of holding the view back: read it as "something changed"
// and re-read a summary when in doubt.
func (v *Views) Subscribe() (updates <-chan schemas.OrderStatus, cancel func()) {
	return v.statusUpdates.subscribe()
}
