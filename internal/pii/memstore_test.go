package pii

import (
	"bytes"
	"context"
	"github.com/jackc/pgx/v5"
	"sort"
	"sync"

	"github.com/google/uuid"
)

// memStore is the in-memory keyStore of the unit tests, with pgStore's semantics.
type memStore struct {
	mu   sync.Mutex
	rows map[uuid.UUID]*keyRecord
	gets int // calls to get and live: how often the cache missed
}

func newMemStore() *memStore { return &memStore{rows: map[uuid.UUID]*keyRecord{}} }

func (s *memStore) migrate(context.Context) error { return nil }

func (s *memStore) live(_ context.Context, customer string) (keyRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	for _, r := range s.rows {
		if r.customer == customer && !r.erased {
			return clone(r), true, nil
		}
	}
	return keyRecord{}, false, nil
}

func (s *memStore) create(_ context.Context, rec keyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		if r.customer == rec.customer && !r.erased {
			return nil // ON CONFLICT DO NOTHING
		}
	}
	c := clone(&rec)
	s.rows[rec.id] = &c
	return nil
}

func (s *memStore) get(_ context.Context, id uuid.UUID) (keyRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	r, ok := s.rows[id]
	if !ok {
		return keyRecord{}, false, nil
	}
	return clone(r), true, nil
}

func (s *memStore) erase(_ context.Context, customer string, then func(pgx.Tx, int) error) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var live []*keyRecord
	for _, r := range s.rows {
		if r.customer == customer && !r.erased {
			live = append(live, r)
		}
	}
	if then != nil {
		if err := then(nil, len(live)); err != nil {
			return 0, err // rolled back: nothing erased
		}
	}
	for _, r := range live {
		r.wrapped, r.erased = nil, true
	}
	return len(live), nil
}

func (s *memStore) rotateBatch(_ context.Context, current string, after uuid.UUID, limit int,
	rewrap func(keyRecord) ([]byte, bool)) (uuid.UUID, int, int, error) {
	s.mu.Lock()
	var recs []keyRecord
	for _, r := range s.rows {
		if !r.erased && r.masterID != current && bytes.Compare(r.id[:], after[:]) > 0 {
			recs = append(recs, clone(r))
		}
	}
	s.mu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return bytes.Compare(recs[i].id[:], recs[j].id[:]) < 0 })
	if len(recs) > limit {
		recs = recs[:limit]
	}
	last, stored := after, 0
	for _, rec := range recs {
		last = rec.id
		wrapped, ok := rewrap(rec)
		if !ok {
			continue
		}
		s.mu.Lock()
		if r := s.rows[rec.id]; r.masterID == rec.masterID && !r.erased { // compare-and-set
			r.masterID, r.wrapped = current, wrapped
			stored++
		}
		s.mu.Unlock()
	}
	return last, len(recs), stored, nil
}

func (s *memStore) record(id uuid.UUID) keyRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.rows[id])
}

func clone(r *keyRecord) keyRecord {
	c := *r
	c.wrapped = bytes.Clone(r.wrapped)
	return c
}
