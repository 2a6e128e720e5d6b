package pii

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Erased is what a sealed field reads as once its customer's key is destroyed.
const Erased = "[erased]"

// unreadable is what Reveal shows for a value that cannot be opened for another reason.
const unreadable = "[unreadable]"

// ErrErased is returned by Open when the data key of a sealed value is erased (or unknown).
var ErrErased = errors.New("pii: the customer's data key is erased")

// ErrNotSealed is returned by Open for a value that is not a sealed value.
var ErrNotSealed = errors.New("pii: not a sealed value")

// errMalformed and errUnopenable are the other reasons Open fails; neither is ErrErased.
var (
	errMalformed  = errors.New("pii: malformed sealed value")
	errUnopenable = errors.New("pii: sealed value does not open for this customer and field (or was tampered with)")
)

const (
	sealedPrefix = "pii1."
	nonceSize    = 12
	tagSize      = 16
	rotateBatch  = 500
)

// keyRecord is one row of customer_keys.
type keyRecord struct {
	id       uuid.UUID
	customer string
	masterID string
	wrapped  []byte // nil once erased
	erased   bool
}

// keyStore keeps the wrapped data keys: PostgreSQL in production (pgStore), memory in tests.
type keyStore interface {
	migrate(ctx context.Context) error
	// live returns the customer's live key; found is false when the customer has none.
	live(ctx context.Context, customer string) (rec keyRecord, found bool, err error)
	// create inserts rec as its customer's live key, and does nothing when one exists already.
	create(ctx context.Context, rec keyRecord) error
	// get returns a key by id, live or erased; found is false when it is unknown.
	get(ctx context.Context, id uuid.UUID) (rec keyRecord, found bool, err error)
	// erase destroys every live key of the customer and returns how many it destroyed.
	// erase destroys the customer's live keys and, in the same transaction, runs then (nil: none)
	// with the count; an error of then rolls both back.
	erase(ctx context.Context, customer string, then func(tx pgx.Tx, keys int) error) (int, error)
	// rotateBatch, in one transaction, lists up to limit live keys with an id above after and a
	// master other than current, ordered by id; for each, calls rewrap and, when it returns a
	// wrapped key, stores it with master current by compare-and-set on the listed master (a key
	// rotated or erased meanwhile is left alone). It returns the last id listed, how many keys
	// it listed and how many it stored.
	rotateBatch(ctx context.Context, current string, after uuid.UUID, limit int,
		rewrap func(keyRecord) ([]byte, bool)) (last uuid.UUID, listed, stored int, err error)
}

// Keystore keeps one data key per customer in PostgreSQL, wrapped (AES-256-GCM) by a master key,
// and seals and opens the customer's fields with it. It is safe for concurrent use.
type Keystore struct {
	store   keyStore
	masters MasterKeys
	cache   *keyCache
}

// NewKeystore returns a keystore on table schema.customer_keys, wrapping data keys with masters.
func NewKeystore(db *pgxpool.Pool, schema string, masters MasterKeys) *Keystore {
	return newKeystore(&pgStore{db: db, schema: schema}, masters)
}

func newKeystore(store keyStore, masters MasterKeys) *Keystore {
	return &Keystore{store: store, masters: masters, cache: newKeyCache(cacheEntries, cacheTTL)}
}

// Migrate creates schema.customer_keys and its index when missing; it is idempotent.
func (k *Keystore) Migrate(ctx context.Context) error { return k.store.migrate(ctx) }

// Seal encrypts plaintext for customerID's field under the customer's live data key, created on
// first use. "" stays "" (nothing to seal).
func (k *Keystore) Seal(ctx context.Context, customerID, field, plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	if err := checkCustomer(customerID); err != nil {
		return "", err
	}
	key, err := k.liveKey(ctx, customerID)
	if err != nil {
		return "", err
	}
	out := make([]byte, 16, 16+nonceSize+len(plaintext)+tagSize)
	copy(out, key.id[:])
	out = append(out, sealAEAD(key.aead, []byte(plaintext), aad(customerID, field))...)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value sealed for customerID's field. "" gives ""; a value that is not sealed
// gives ErrNotSealed; a value whose key is erased (or unknown) gives ErrErased; a value sealed
// for another customer or field, or tampered with, gives another error.
func (k *Keystore) Open(ctx context.Context, customerID, field, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	body, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", ErrNotSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < 16+nonceSize+tagSize {
		return "", errMalformed
	}
	id, _ := uuid.FromBytes(raw[:16])
	key, err := k.keyByID(ctx, id)
	if err != nil {
		return "", err
	}
	if key.customer != customerID {
		return "", errUnopenable
	}
	pt, err := openAEAD(key.aead, raw[16:], aad(customerID, field))
	if err != nil {
		return "", errUnopenable
	}
	return string(pt), nil
}

// Reveal opens a sealed value for display: the plaintext, Erased when the customer's key is
// erased, "[unreadable]" on any other error (logged, without the value).
func (k *Keystore) Reveal(ctx context.Context, customerID, field, sealed string) string {
	pt, err := k.Open(ctx, customerID, field, sealed)
	switch {
	case err == nil:
		return pt
	case errors.Is(err, ErrErased):
		return Erased
	default:
		slog.Warn("pii: sealed value unreadable", "customer_id", customerID, "field", field, "err", err)
		return unreadable
	}
}

// Erase destroys every live data key of the customer (crypto-shredding every value sealed under
// them) and evicts them from this keystore's cache; other processes' caches drop them within a
// minute. It is idempotent: a second call returns 0. The next Seal for the customer creates a
// new key.
func (k *Keystore) Erase(ctx context.Context, customerID string) (keys int, err error) {
	return k.EraseThen(ctx, customerID, nil)
}

// EraseThen is Erase with then run in the transaction that destroys the keys (given the number
// destroyed): the caller's record of the erasure (an outbox row) commits with it, or neither
// does. then may be nil.
func (k *Keystore) EraseThen(ctx context.Context, customerID string, then func(tx pgx.Tx, keys int) error) (keys int, err error) {
	n, err := k.store.erase(ctx, customerID, then)
	k.cache.evictCustomer(customerID) // even on error: the erase may have committed
	if err != nil {
		return 0, fmt.Errorf("pii: erase: %w", err)
	}
	return n, nil
}

// Rotate re-wraps every live data key not wrapped by the current master, in batches of 500,
// each in its own transaction, while Seal and Open keep working. Each key is stored by
// compare-and-set on its previous master, so concurrent rotations never double-wrap. Keys
// wrapped by a master missing from MasterKeys are left as they are and reported in the error,
// after the others are rotated.
func (k *Keystore) Rotate(ctx context.Context) (rewrapped int, err error) {
	current := k.masters.Current()
	if current == "" {
		return 0, errors.New("pii: rotate: no master key")
	}
	var failed []error
	rewrap := func(rec keyRecord) ([]byte, bool) {
		dek, err := k.masters.unwrap(rec.masterID, rec.id[:], rec.wrapped)
		if err != nil {
			if len(failed) < 10 {
				failed = append(failed, fmt.Errorf("key %s: %w", rec.id, err))
			}
			return nil, false
		}
		_, wrapped, err := k.masters.wrap(rec.id[:], dek)
		if err != nil {
			failed = append(failed, err)
			return nil, false
		}
		return wrapped, true
	}
	var after uuid.UUID // keyset pagination: each key is visited once per call
	for {
		last, listed, stored, err := k.store.rotateBatch(ctx, current, after, rotateBatch, rewrap)
		rewrapped += stored
		if err != nil {
			return rewrapped, fmt.Errorf("pii: rotate: %w", err)
		}
		if listed < rotateBatch {
			break
		}
		after = last
	}
	if len(failed) > 0 {
		return rewrapped, fmt.Errorf("pii: rotate: some keys were not re-wrapped: %w", errors.Join(failed...))
	}
	return rewrapped, nil
}

// liveKey returns the customer's live data key, creating it when the customer has none.
func (k *Keystore) liveKey(ctx context.Context, customer string) (dataKey, error) {
	if key, ok := k.cache.get(customerName(customer)); ok {
		return key, nil
	}
	gen := k.cache.generation()
	for attempt := 0; attempt < 3; attempt++ {
		rec, found, err := k.store.live(ctx, customer)
		if err != nil {
			return dataKey{}, fmt.Errorf("pii: load data key: %w", err)
		}
		if !found {
			// INSERT … ON CONFLICT DO NOTHING, then read whichever key won.
			cand, err := k.newRecord(customer)
			if err != nil {
				return dataKey{}, err
			}
			if err := k.store.create(ctx, cand); err != nil {
				return dataKey{}, fmt.Errorf("pii: create data key: %w", err)
			}
			if rec, found, err = k.store.live(ctx, customer); err != nil {
				return dataKey{}, fmt.Errorf("pii: load data key: %w", err)
			}
			if !found {
				continue // erased right after it was created: try again
			}
		}
		key, err := k.unwrap(rec)
		if err != nil {
			return dataKey{}, err
		}
		k.cache.put(key, gen)
		return key, nil
	}
	return dataKey{}, errors.New("pii: could not obtain a live data key (erased concurrently)")
}

// keyByID returns a data key by id; ErrErased when it is erased or unknown.
func (k *Keystore) keyByID(ctx context.Context, id uuid.UUID) (dataKey, error) {
	if key, ok := k.cache.get(keyName(id)); ok {
		return key, nil
	}
	gen := k.cache.generation()
	rec, found, err := k.store.get(ctx, id)
	if err != nil {
		return dataKey{}, fmt.Errorf("pii: load data key: %w", err)
	}
	if !found || rec.erased || rec.wrapped == nil {
		return dataKey{}, ErrErased
	}
	key, err := k.unwrap(rec)
	if err != nil {
		return dataKey{}, err
	}
	k.cache.put(key, gen)
	return key, nil
}

func (k *Keystore) newRecord(customer string) (keyRecord, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return keyRecord{}, err
	}
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return keyRecord{}, err
	}
	master, wrapped, err := k.masters.wrap(id[:], dek)
	if err != nil {
		return keyRecord{}, err
	}
	return keyRecord{id: id, customer: customer, masterID: master, wrapped: wrapped}, nil
}

func (k *Keystore) unwrap(rec keyRecord) (dataKey, error) {
	dek, err := k.masters.unwrap(rec.masterID, rec.id[:], rec.wrapped)
	if err != nil {
		return dataKey{}, err
	}
	aead, err := newAEAD(dek)
	clear(dek)
	if err != nil {
		return dataKey{}, err
	}
	return dataKey{id: rec.id, customer: rec.customer, aead: aead}, nil
}

// aad binds a sealed value to its customer and field.
func aad(customer, field string) []byte {
	return []byte(customer + "\x00" + field)
}

// checkCustomer refuses ids that would make the AAD ambiguous.
func checkCustomer(customer string) error {
	if customer == "" {
		return errors.New("pii: empty customer id")
	}
	if strings.ContainsRune(customer, 0) {
		return errors.New("pii: customer id contains NUL")
	}
	return nil
}
