// Package pii seals personal data with one data key per customer, so that a customer's data can
// be erased everywhere at once by destroying that key (crypto-shredding).
//
// Consumes: plaintext fields with the customer they belong to, and master keys (key-encryption
// keys) from ORDERFLOW_MASTER_KEYS, ORDERFLOW_MASTER_KEYS_FILE or a generated local file. Keeps:
// table <schema>.customer_keys, one row per data key: 32 random bytes wrapped with AES-256-GCM
// by a master key (AAD = the key id), at most one live key per customer. Emits: sealed strings
// "pii1.<base64url(key id || nonce || ciphertext+tag)>", AES-256-GCM under the customer's data
// key with AAD = customer id + "\x00" + field, so a sealed value opens only for the customer and
// field it was sealed for; these travel in events, topics and tables in place of the plaintext.
//
// Threat model. Erase NULLs the wrapped key row: from then on every copy of every ciphertext
// sealed under that key - in Kafka topics, tables, caches, backups - is unreadable, provided no
// copy of the wrapped key survives elsewhere and the master key that wrapped it is not both
// leaked and paired with such a copy. PostgreSQL keeps old row versions for a while: the WAL
// (and WAL archives, replication slots), dead tuples until VACUUM, and database backups hold
// the wrapped key until they age out. Rotating the master key after erasures (Rotate re-wraps
// the live keys under the new current master) and then destroying the old master closes that
// window: the surviving wrapped copies can no longer be unwrapped. The package does not protect
// against an attacker who holds a master key and the database at the same time while the key
// is live, nor against plaintext that was copied out before sealing.
//
// Caching: unwrapped data keys are cached in memory (LRU, 10 000 entries, 1 minute). Erase
// evicts the customer's keys from the cache of the Keystore that runs it at once; other
// processes may keep using a cached copy of an erased key for up to one minute: they may still
// open that customer's values, and values they seal in that window are erased too.
package pii
