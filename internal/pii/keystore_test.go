package pii

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func masters(t *testing.T, ids ...string) MasterKeys {
	t.Helper()
	var specs []string
	for _, id := range ids {
		specs = append(specs, id+":"+base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-32s", "key of "+id))))
	}
	m, err := ParseMasterKeys(strings.Join(specs, ","))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newTestKeystore(t *testing.T) (*Keystore, *memStore) {
	store := newMemStore()
	return newKeystore(store, masters(t, "m1")), store
}

func mustSeal(t *testing.T, k *Keystore, customer, field, plaintext string) string {
	t.Helper()
	s, err := k.Seal(context.Background(), customer, field, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keyIDOf(t *testing.T, sealed string) uuid.UUID {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := uuid.FromBytes(raw[:16])
	return id
}

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	k, store := newTestKeystore(t)
	for _, pt := range []string{"Ada Lovelace", "x", "ünïcødé ✓", strings.Repeat("long ", 1000)} {
		s := mustSeal(t, k, "c-1", "name", pt)
		if !strings.HasPrefix(s, "pii1.") || (len(pt) > 3 && strings.Contains(s, pt)) {
			t.Fatalf("sealed %q", s)
		}
		if got, err := k.Open(ctx, "c-1", "name", s); err != nil || got != pt {
			t.Fatalf("open: %q %v, want %q", got, err, pt)
		}
	}
	a, b := mustSeal(t, k, "c-1", "name", "same"), mustSeal(t, k, "c-1", "name", "same")
	if a == b {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if keyIDOf(t, a) != keyIDOf(t, b) {
		t.Error("one customer's values use two keys")
	}
	if keyIDOf(t, mustSeal(t, k, "c-2", "name", "same")) == keyIDOf(t, a) {
		t.Error("two customers share a key")
	}
	if len(store.rows) != 2 {
		t.Errorf("%d keys stored, want 2", len(store.rows))
	}
	// A fresh keystore (cold cache) on the same store opens it too.
	if got, err := newKeystore(store, masters(t, "m1")).Open(ctx, "c-1", "name", a); err != nil || got != "same" {
		t.Errorf("cold open: %q %v", got, err)
	}
	// Nothing to seal, nothing to open.
	if s, err := k.Seal(ctx, "c-3", "name", ""); s != "" || err != nil {
		t.Errorf(`Seal("") = %q %v`, s, err)
	}
	if p, err := k.Open(ctx, "c-3", "name", ""); p != "" || err != nil {
		t.Errorf(`Open("") = %q %v`, p, err)
	}
	if len(store.rows) != 2 {
		t.Error("sealing an empty value created a key")
	}
	for _, bad := range []string{"", "a\x00b"} {
		if _, err := k.Seal(ctx, bad, "name", "v"); err == nil {
			t.Errorf("Seal for customer %q succeeded", bad)
		}
	}
}

func TestAADBindsCustomerAndField(t *testing.T) {
	ctx := context.Background()
	k, _ := newTestKeystore(t)
	s := mustSeal(t, k, "c-1", "email", "ada@example.com")
	mustSeal(t, k, "c-2", "email", "other") // c-2 has a live key of its own
	for _, tc := range []struct{ customer, field string }{
		{"c-1", "name"},  // other field
		{"c-2", "email"}, // other customer
		{"c-1\x00", "email"},
		{"c-1", "email\x00"},
	} {
		got, err := k.Open(ctx, tc.customer, tc.field, s)
		if err == nil || errors.Is(err, ErrErased) || errors.Is(err, ErrNotSealed) || got != "" {
			t.Errorf("Open as %q/%q: %q %v; want an error other than ErrErased", tc.customer, tc.field, got, err)
		}
	}
}

func TestTamperingDetected(t *testing.T) {
	ctx := context.Background()
	k, _ := newTestKeystore(t)
	s := mustSeal(t, k, "c-1", "phone", "+33 1 23 45 67 89")
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, sealedPrefix))
	for i := 16; i < len(raw); i++ { // every byte of nonce, ciphertext and tag
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		_, err := k.Open(ctx, "c-1", "phone", sealedPrefix+base64.RawURLEncoding.EncodeToString(b))
		if err == nil || errors.Is(err, ErrErased) {
			t.Fatalf("flipping byte %d: %v; want an error other than ErrErased", i, err)
		}
	}
	for name, v := range map[string]string{
		"truncated":    sealedPrefix + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]),
		"too short":    sealedPrefix + base64.RawURLEncoding.EncodeToString(raw[:40]),
		"bad base64":   sealedPrefix + "***",
		"empty body":   sealedPrefix,
		"padded":       s + "==",
		"extra suffix": sealedPrefix + base64.RawURLEncoding.EncodeToString(append(bytes.Clone(raw), 0)),
	} {
		if _, err := k.Open(ctx, "c-1", "phone", v); err == nil || errors.Is(err, ErrErased) || errors.Is(err, ErrNotSealed) {
			t.Errorf("%s: %v; want an error other than ErrErased and ErrNotSealed", name, err)
		}
	}
	// A changed key id names no key: like an erased one.
	b := bytes.Clone(raw)
	b[0] ^= 0x01
	if _, err := k.Open(ctx, "c-1", "phone", sealedPrefix+base64.RawURLEncoding.EncodeToString(b)); !errors.Is(err, ErrErased) {
		t.Errorf("unknown key id: %v, want ErrErased", err)
	}
}

func TestErrNotSealed(t *testing.T) {
	k, _ := newTestKeystore(t)
	for _, v := range []string{"Ada", "pii2.AAAA", "PII1.AAAA", "pii1"} {
		if _, err := k.Open(context.Background(), "c-1", "name", v); !errors.Is(err, ErrNotSealed) {
			t.Errorf("Open(%q): %v, want ErrNotSealed", v, err)
		}
	}
}

func TestEraseShredsAndANewKeyFollows(t *testing.T) {
	ctx := context.Background()
	k, store := newTestKeystore(t)
	old := mustSeal(t, k, "c-1", "name", "Ada")
	other := mustSeal(t, k, "c-2", "name", "Grace")
	if got := k.Reveal(ctx, "c-1", "name", old); got != "Ada" { // the key is now cached
		t.Fatalf("Reveal before erasure: %q", got)
	}
	n, err := k.Erase(ctx, "c-1")
	if err != nil || n != 1 {
		t.Fatalf("Erase: %d %v, want 1", n, err)
	}
	if rec := store.record(keyIDOf(t, old)); rec.wrapped != nil || !rec.erased {
		t.Fatalf("erased row keeps its wrapped key: %+v", rec)
	}
	if _, err := k.Open(ctx, "c-1", "name", old); !errors.Is(err, ErrErased) {
		t.Fatalf("Open after erasure: %v, want ErrErased", err)
	}
	if got := k.Reveal(ctx, "c-1", "name", old); got != "[erased]" {
		t.Errorf("Reveal after erasure: %q, want %q", got, Erased)
	}
	if got := k.Reveal(ctx, "c-2", "name", other); got != "Grace" {
		t.Errorf("another customer's value: %q", got)
	}
	if n, err := k.Erase(ctx, "c-1"); err != nil || n != 0 {
		t.Errorf("second Erase: %d %v, want 0, nil", n, err)
	}
	if n, err := k.Erase(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("Erase of an unknown customer: %d %v, want 0, nil", n, err)
	}
	// The next Seal creates a new key: new values open, old ones stay erased.
	fresh := mustSeal(t, k, "c-1", "name", "Ada B.")
	if keyIDOf(t, fresh) == keyIDOf(t, old) {
		t.Fatal("Seal after erasure reused the erased key")
	}
	if got, err := k.Open(ctx, "c-1", "name", fresh); err != nil || got != "Ada B." {
		t.Errorf("new value: %q %v", got, err)
	}
	if _, err := k.Open(ctx, "c-1", "name", old); !errors.Is(err, ErrErased) {
		t.Errorf("old value after a new key: %v, want ErrErased", err)
	}
	if n, err := k.Erase(ctx, "c-1"); err != nil || n != 1 {
		t.Errorf("erasing the new key: %d %v", n, err)
	}
	if got := k.Reveal(ctx, "c-1", "name", fresh); got != Erased {
		t.Errorf("new value after its erasure: %q", got)
	}
}

func TestRevealUnreadableLogsWithoutValue(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	k, _ := newTestKeystore(t)
	s := mustSeal(t, k, "c-1", "name", "Ada")
	if got := k.Reveal(context.Background(), "c-1", "email", s); got != "[unreadable]" {
		t.Errorf("Reveal for another field: %q, want [unreadable]", got)
	}
	if got := k.Reveal(context.Background(), "c-1", "name", "plain secret"); got != "[unreadable]" {
		t.Errorf("Reveal of a value not sealed: %q, want [unreadable]", got)
	}
	if out := logs.String(); !strings.Contains(out, "unreadable") || strings.Contains(out, s) ||
		strings.Contains(out, "plain secret") || strings.Contains(out, "Ada") {
		t.Errorf("log: %s", out)
	}
}

func TestRotateRewrapsOnline(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	before := newKeystore(store, masters(t, "m1"))
	const customers = 1203 // three batches
	sealed := map[string]string{}
	for i := range customers {
		c := fmt.Sprintf("c-%d", i)
		sealed[c] = mustSeal(t, before, c, "name", "name of "+c)
	}
	if _, err := before.Erase(ctx, "c-7"); err != nil {
		t.Fatal(err)
	}

	after := newKeystore(store, masters(t, "m2", "m1"))
	n, err := after.Rotate(ctx)
	if err != nil || n != customers-1 {
		t.Fatalf("Rotate: %d %v, want %d", n, err, customers-1)
	}
	for id, rec := range store.rows {
		if !rec.erased && rec.masterID != "m2" {
			t.Fatalf("key %s still wrapped by %q", id, rec.masterID)
		}
	}
	if n, err := after.Rotate(ctx); err != nil || n != 0 {
		t.Errorf("second Rotate: %d %v, want 0", n, err)
	}
	// Old ciphertexts open with the new master, and once the old one is gone.
	for _, k := range []*Keystore{after, newKeystore(store, masters(t, "m2"))} {
		for c, s := range sealed {
			got, err := k.Open(ctx, c, "name", s)
			if c == "c-7" {
				if !errors.Is(err, ErrErased) {
					t.Fatalf("erased customer after rotation: %v", err)
				}
				continue
			}
			if err != nil || got != "name of "+c {
				t.Fatalf("%s after rotation: %q %v", c, got, err)
			}
		}
	}
	// The data keys were re-wrapped, not replaced: the old master alone no longer unwraps them.
	if got := newKeystore(store, masters(t, "m1")).Reveal(ctx, "c-1", "name", sealed["c-1"]); got != "[unreadable]" {
		t.Errorf("old master only after rotation: %q, want [unreadable]", got)
	}
	if _, err := newKeystore(store, MasterKeys{}).Rotate(ctx); err == nil {
		t.Error("Rotate without master keys succeeded")
	}
}

func TestConcurrentRotationsDoNotDoubleWrap(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	before := newKeystore(store, masters(t, "m1"))
	for i := range 700 {
		mustSeal(t, before, fmt.Sprintf("c-%d", i), "f", "v")
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Go(func() {
			n, err := newKeystore(store, masters(t, "m2", "m1")).Rotate(ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	// Seal and Open keep working meanwhile (a cold cache: every key is read during rotation).
	during := newKeystore(store, masters(t, "m2", "m1"))
	wg.Go(func() {
		for i := range 200 {
			c := fmt.Sprintf("c-%d", i)
			s, err := during.Seal(ctx, c, "f", "w")
			if err != nil {
				t.Error(err)
				return
			}
			if got, err := during.Open(ctx, c, "f", s); err != nil || got != "w" {
				t.Errorf("during rotation: %q %v", got, err)
			}
		}
	})
	wg.Wait()
	if total := counts[0] + counts[1] + counts[2] + counts[3]; total != 700 {
		t.Errorf("rotations stored %v = %d re-wraps, want 700", counts, total)
	}
	only := newKeystore(store, masters(t, "m2"))
	s := mustSeal(t, during, "c-3", "f", "x")
	if got, err := only.Open(ctx, "c-3", "f", s); err != nil || got != "x" {
		t.Errorf("after concurrent rotations: %q %v", got, err)
	}
}

func TestRotateReportsKeysOfUnknownMasters(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	s1 := mustSeal(t, newKeystore(store, masters(t, "m1")), "c-1", "f", "one")
	s2 := mustSeal(t, newKeystore(store, masters(t, "lost")), "c-2", "f", "two")
	k := newKeystore(store, masters(t, "m2", "m1"))
	n, err := k.Rotate(ctx)
	if err == nil || n != 1 {
		t.Fatalf("Rotate: %d %v; want 1 and an error for the key of master \"lost\"", n, err)
	}
	if strings.Contains(err.Error(), "key of") {
		t.Errorf("error shows key material: %v", err)
	}
	if got, err := newKeystore(store, masters(t, "m2")).Open(ctx, "c-1", "f", s1); err != nil || got != "one" {
		t.Errorf("rotated key: %q %v", got, err)
	}
	if got := k.Reveal(ctx, "c-2", "f", s2); got != "[unreadable]" {
		t.Errorf("key of an unknown master: %q", got)
	}
}

func TestConcurrentFirstSealsShareOneKey(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, 16)
	for i := range ids {
		wg.Go(func() {
			k := newKeystore(store, masters(t, "m1")) // separate caches, like separate processes
			s, err := k.Seal(ctx, "c-1", "f", "v")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = keyIDOf(t, s)
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent first seals used keys %v", ids)
		}
	}
	if len(store.rows) != 1 {
		t.Errorf("%d keys stored, want 1", len(store.rows))
	}
}

func TestCacheAvoidsStoreAndForgetsErasedKeys(t *testing.T) {
	ctx := context.Background()
	k, store := newTestKeystore(t)
	s := mustSeal(t, k, "c-1", "f", "v")
	gets := store.gets
	for range 10 {
		mustSeal(t, k, "c-1", "f", "v")
		if _, err := k.Open(ctx, "c-1", "f", s); err != nil {
			t.Fatal(err)
		}
	}
	if store.gets != gets {
		t.Errorf("%d store reads with a warm cache", store.gets-gets)
	}
	if _, err := k.Erase(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	if k.cache.len() != 0 {
		t.Errorf("%d cache entries after erasing the only customer", k.cache.len())
	}
}

func TestKeyCacheBoundTTLAndEraseRace(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newKeyCache(4, time.Minute)
	c.now = func() time.Time { return now }
	key := func(customer string) dataKey { return dataKey{id: uuid.New(), customer: customer} }

	a := key("a")
	c.put(a, c.generation())
	if _, ok := c.get(keyName(a.id)); !ok {
		t.Fatal("miss right after put")
	}
	if _, ok := c.get(customerName("a")); !ok {
		t.Fatal("the customer's live key is not cached")
	}
	now = now.Add(time.Minute)
	if _, ok := c.get(keyName(a.id)); ok {
		t.Error("entry outlived its minute")
	}

	for _, cu := range []string{"b", "c", "d"} { // two entries each, four at most
		c.put(key(cu), c.generation())
	}
	if c.len() != 4 {
		t.Errorf("%d entries, want the bound 4", c.len())
	}
	if _, ok := c.get(customerName("b")); ok {
		t.Error("least recently used customer b was not evicted")
	}

	// A load that began before an erasure cannot put the erased key back.
	gen := c.generation()
	c.evictCustomer("e")
	e := key("e")
	c.put(e, gen)
	if _, ok := c.get(keyName(e.id)); ok {
		t.Error("a key loaded before its erasure was cached")
	}
	c.evictCustomer("d")
	if _, ok := c.get(customerName("d")); ok {
		t.Error("evictCustomer left an entry")
	}
}
