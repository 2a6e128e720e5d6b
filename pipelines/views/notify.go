package views

import (
	"fmt"
	"sync"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
)

// keyChanges tells waiters that the value of a key has changed, so a long poll sleeps until its
// order's status is written instead of re-reading the view on a timer.
//
// Consumes: change notices from a view's update callback (storeAndNotify), one per changelog
// message. Keeps: for each key somebody waits on, one channel shared by its waiters and their
// count; nothing for any other key. An entry goes when its key changes (the channel is closed) or
// its last waiter stops. Emits: the close of the channel, to every waiter of that key.
//
// A notice for a key nobody waits on costs one map lookup under the mutex. The mutex is also what
// makes "watch, then read" safe: a change stored after watch has registered finds the entry, and a
// change whose notice came before watch was stored before the read that follows watch.
type keyChanges struct {
	mu   sync.Mutex
	keys map[string]*keyWatch
}

// keyWatch is the shared channel of one key's waiters.
type keyWatch struct {
	changed chan struct{} // closed on the key's next change
	waiters int           // watches not yet stopped
}

func newKeyChanges() *keyChanges { return &keyChanges{keys: map[string]*keyWatch{}} }

// watch registers interest in the next change of key: changed is closed when it happens. The caller
// reads the current value after watch (never before, or a change in between is missed) and calls
// stop once it no longer waits, changed or not; stop may be called more than once.
func (c *keyChanges) watch(key string) (changed <-chan struct{}, stop func()) {
	c.mu.Lock()
	w := c.keys[key]
	if w == nil {
		w = &keyWatch{changed: make(chan struct{})}
		c.keys[key] = w
	}
	w.waiters++
	c.mu.Unlock()

	stopped := false
	return w.changed, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if stopped {
			return
		}
		stopped = true
		// after a change the entry is gone (or is a newer watch's): nothing to undo
		if c.keys[key] == w {
			w.waiters--
			if w.waiters == 0 {
				delete(c.keys, key)
			}
		}
	}
}

// changed wakes every waiter of key and forgets them: a waiter that wants the change after this
// one watches again.
func (c *keyChanges) changed(key string) {
	c.mu.Lock()
	w := c.keys[key]
	if w != nil {
		delete(c.keys, key)
	}
	c.mu.Unlock()
	if w != nil {
		close(w.changed)
	}
}

// watchedKeys returns how many keys have waiters.
func (c *keyChanges) watchedKeys() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

// storeAndNotify is a view's update callback (goka.WithViewCallback): goka calls it for every
// message of the table's changelog, while the view recovers and after. Setting a callback
// replaces goka's, so it stores the value exactly as goka.DefaultUpdate does (nil deletes), and
// then, the value being readable, wakes the key's waiters.
func (c *keyChanges) storeAndNotify(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
		return fmt.Errorf("views: storing the value of %q: %w", key, err)
	}
	c.changed(key)
	return nil
}
