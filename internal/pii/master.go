package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Environment variables LoadMasterKeys reads.
const (
	envMasterKeys     = "ORDERFLOW_MASTER_KEYS"
	envMasterKeysFile = "ORDERFLOW_MASTER_KEYS_FILE"
	localKeysFile     = "master.keys"
)

var masterID = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)

// MasterKeys are the key-encryption keys, by id; the first is current (wraps new data keys), the
// others only unwrap data keys not yet rotated. Printing a MasterKeys shows its ids only.
type MasterKeys struct {
	ids   []string               // in order, the first is current
	aeads map[string]cipher.AEAD // AES-256-GCM by id
}

// ParseMasterKeys parses "id1:<base64 32 bytes>,id2:<base64>": ids match [a-zA-Z0-9_-]{1,32},
// are unique, and the first is current. Errors name the id, never the key material.
func ParseMasterKeys(spec string) (MasterKeys, error) {
	m := MasterKeys{aeads: map[string]cipher.AEAD{}}
	if strings.TrimSpace(spec) == "" {
		return MasterKeys{}, errors.New("pii: no master key given")
	}
	for i, entry := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok {
			return MasterKeys{}, fmt.Errorf("pii: master key #%d: want id:<base64 of 32 bytes>", i+1)
		}
		if !masterID.MatchString(id) {
			return MasterKeys{}, fmt.Errorf("pii: master key #%d: id must match [a-zA-Z0-9_-]{1,32}", i+1)
		}
		if _, dup := m.aeads[id]; dup {
			return MasterKeys{}, fmt.Errorf("pii: master key id %q given twice", id)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			if key, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
				return MasterKeys{}, fmt.Errorf("pii: master key %q: not valid base64", id)
			}
		}
		if len(key) != 32 {
			return MasterKeys{}, fmt.Errorf("pii: master key %q: %d bytes, want 32 (AES-256)", id, len(key))
		}
		aead, err := newAEAD(key)
		if err != nil {
			return MasterKeys{}, fmt.Errorf("pii: master key %q: %w", id, err)
		}
		m.ids = append(m.ids, id)
		m.aeads[id] = aead
	}
	return m, nil
}

// LoadMasterKeys reads the master keys from ORDERFLOW_MASTER_KEYS when set, else from the file
// named by ORDERFLOW_MASTER_KEYS_FILE (same format; entries separated by commas or newlines),
// else from <stateDir>/master.keys, which is created on first use (mode 0600) with a fresh random
// key "local-<8 hex>": a default that just works locally, logged as a warning on every load.
func LoadMasterKeys(stateDir string) (MasterKeys, error) {
	if spec := os.Getenv(envMasterKeys); strings.TrimSpace(spec) != "" {
		m, err := ParseMasterKeys(spec)
		if err != nil {
			return MasterKeys{}, fmt.Errorf("%s: %w", envMasterKeys, err)
		}
		return m, nil
	}
	if file := os.Getenv(envMasterKeysFile); file != "" {
		m, err := readKeysFile(file)
		if err != nil {
			return MasterKeys{}, fmt.Errorf("%s: %w", envMasterKeysFile, err)
		}
		return m, nil
	}
	if stateDir == "" {
		return MasterKeys{}, fmt.Errorf("pii: no master keys: set %s or %s", envMasterKeys, envMasterKeysFile)
	}
	path := filepath.Join(stateDir, localKeysFile)
	m, err := readKeysFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		m, err = createLocalKeys(stateDir, path)
	}
	if err != nil {
		return MasterKeys{}, err
	}
	slog.Warn("pii: using a generated local master key; set "+envMasterKeys+" or "+envMasterKeysFile+" outside local development",
		"file", path, "master_id", m.Current())
	return m, nil
}

// readKeysFile parses a file holding master keys separated by commas or newlines.
func readKeysFile(path string) (MasterKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return MasterKeys{}, err
	}
	var entries []string
	for _, line := range strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if line = strings.TrimSpace(line); line != "" {
			entries = append(entries, line)
		}
	}
	m, err := ParseMasterKeys(strings.Join(entries, ","))
	if err != nil {
		return MasterKeys{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// createLocalKeys writes a fresh key to path without ever exposing a partial file: a private
// temporary file is linked into place, and when another process won the race its key is used.
func createLocalKeys(dir, path string) (MasterKeys, error) {
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return MasterKeys{}, err
	}
	spec, err := GenerateMasterKey("local-" + hex.EncodeToString(id))
	if err != nil {
		return MasterKeys{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return MasterKeys{}, fmt.Errorf("pii: create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".master.keys-*") // mode 0600
	if err != nil {
		return MasterKeys{}, fmt.Errorf("pii: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return MasterKeys{}, err
	}
	if _, err := tmp.WriteString(spec + "\n"); err != nil {
		tmp.Close()
		return MasterKeys{}, fmt.Errorf("pii: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return MasterKeys{}, err
	}
	if err := tmp.Close(); err != nil {
		return MasterKeys{}, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return MasterKeys{}, fmt.Errorf("pii: create %s: %w", path, err)
	}
	return readKeysFile(path)
}

// Current returns the id of the current master key ("" for no keys).
func (m MasterKeys) Current() string {
	if len(m.ids) == 0 {
		return ""
	}
	return m.ids[0]
}

// String lists the ids, never the keys.
func (m MasterKeys) String() string {
	return "MasterKeys[" + strings.Join(m.ids, ",") + "]"
}

// GoString lists the ids, never the keys (for %#v).
func (m MasterKeys) GoString() string { return m.String() }

// GenerateMasterKey returns "id:<base64 of 32 random bytes>", a master key for an operator to
// store as a secret and add in front of ORDERFLOW_MASTER_KEYS.
func GenerateMasterKey(id string) (string, error) {
	if !masterID.MatchString(id) {
		return "", fmt.Errorf("pii: master key id %q must match [a-zA-Z0-9_-]{1,32}", id)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// wrap encrypts a data key under the current master; AAD = the data key's id.
func (m MasterKeys) wrap(keyID, dek []byte) (masterID string, wrapped []byte, err error) {
	id := m.Current()
	if id == "" {
		return "", nil, errors.New("pii: no master key")
	}
	return id, sealAEAD(m.aeads[id], dek, keyID), nil
}

// unwrap decrypts a data key wrapped by master id.
func (m MasterKeys) unwrap(id string, keyID, wrapped []byte) ([]byte, error) {
	aead, ok := m.aeads[id]
	if !ok {
		return nil, fmt.Errorf("pii: data key wrapped by unknown master key %q", id)
	}
	dek, err := openAEAD(aead, wrapped, keyID)
	if err != nil {
		return nil, fmt.Errorf("pii: unwrap data key with master key %q: %w", id, err)
	}
	if len(dek) != 32 {
		return nil, fmt.Errorf("pii: unwrapped data key has %d bytes", len(dek))
	}
	return dek, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealAEAD returns nonce || ciphertext+tag with a random nonce.
func sealAEAD(aead cipher.AEAD, plaintext, aad []byte) []byte {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(err) // crypto/rand.Read does not fail (it crashes the program itself)
	}
	return aead.Seal(out, out, plaintext, aad)
}

var errAuth = errors.New("message authentication failed")

// openAEAD opens nonce || ciphertext+tag.
func openAEAD(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, errAuth
	}
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errAuth
	}
	return pt, nil
}
