package pii

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(fill), n)))
}

func TestParseMasterKeys(t *testing.T) {
	m, err := ParseMasterKeys("new:" + b64(32, 'a') + ", old_1-X:" + b64(32, 'b'))
	if err != nil {
		t.Fatal(err)
	}
	if m.Current() != "new" || len(m.ids) != 2 || m.ids[1] != "old_1-X" {
		t.Fatalf("ids %v current %q", m.ids, m.Current())
	}
	if got := fmt.Sprintf("%v %+v %#v %s", m, m, m, m); strings.Contains(got, b64(32, 'a')) || strings.Contains(got, "aaaa") {
		t.Errorf("printing MasterKeys shows key material: %s", got)
	}
	if (MasterKeys{}).Current() != "" {
		t.Error("zero MasterKeys has a current key")
	}
}

func TestParseMasterKeysErrors(t *testing.T) {
	secret := b64(31, 's')
	for name, spec := range map[string]string{
		"empty":          "",
		"no colon":       "k1" + b64(32, 'a'),
		"bad base64":     "k1:!!!not base64!!!",
		"short key":      "k1:" + secret,
		"long key":       "k1:" + b64(33, 'a'),
		"duplicate id":   "k1:" + b64(32, 'a') + ",k1:" + b64(32, 'b'),
		"bad id char":    "k.1:" + b64(32, 'a'),
		"empty id":       ":" + b64(32, 'a'),
		"id too long":    strings.Repeat("k", 33) + ":" + b64(32, 'a'),
		"empty entry":    "k1:" + b64(32, 'a') + ",",
		"space in id":    "k 1:" + b64(32, 'a'),
		"key ok, id bad": "é:" + b64(32, 'a'),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMasterKeys(spec)
			if err == nil {
				t.Fatalf("ParseMasterKeys(%q) succeeded", spec)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), b64(32, 'a')) {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
}

func TestGenerateMasterKey(t *testing.T) {
	spec, err := GenerateMasterKey("k-2026")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMasterKeys(spec)
	if err != nil || m.Current() != "k-2026" {
		t.Fatalf("generated %q does not parse: %v", spec, err)
	}
	other, _ := GenerateMasterKey("k-2026")
	if other == spec {
		t.Error("two generated keys are equal")
	}
	if _, err := GenerateMasterKey("bad id"); err == nil {
		t.Error("GenerateMasterKey accepted a bad id")
	}
}

func TestLoadMasterKeysCreatesAndReusesLocalFile(t *testing.T) {
	t.Setenv(envMasterKeys, "")
	t.Setenv(envMasterKeysFile, "")
	dir := filepath.Join(t.TempDir(), "state")
	first, err := LoadMasterKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^local-[0-9a-f]{8}$`).MatchString(first.Current()) {
		t.Errorf("generated id %q, want local-<8 hex>", first.Current())
	}
	path := filepath.Join(dir, localKeysFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only %s", len(entries), localKeysFile)
	}
	again, err := LoadMasterKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Current() != first.Current() {
		t.Fatalf("second load: %q, want the same key %q", again.Current(), first.Current())
	}
	// Same key material, not just the same id: what one wraps the other unwraps.
	id := []byte("0123456789abcdef")
	mid, wrapped, err := first.wrap(id, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.unwrap(mid, id, wrapped); err != nil {
		t.Errorf("the reloaded key does not unwrap: %v", err)
	}
}

func TestLoadMasterKeysFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte("f1:"+b64(32, 'a')+"\nf2:"+b64(32, 'b')+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envMasterKeys, "")
	t.Setenv(envMasterKeysFile, file)
	m, err := LoadMasterKeys(dir)
	if err != nil || m.Current() != "f1" || len(m.ids) != 2 {
		t.Fatalf("from file: %v %v", m, err)
	}
	t.Setenv(envMasterKeys, "e1:"+b64(32, 'c'))
	if m, err = LoadMasterKeys(dir); err != nil || m.Current() != "e1" {
		t.Fatalf("from %s: %v %v", envMasterKeys, m, err)
	}
	if _, err := os.Stat(filepath.Join(dir, localKeysFile)); !os.IsNotExist(err) {
		t.Errorf("a local key file was created although keys were configured: %v", err)
	}
	t.Setenv(envMasterKeys, "e1:short")
	if _, err := LoadMasterKeys(dir); err == nil {
		t.Error("a bad " + envMasterKeys + " was accepted")
	}
	t.Setenv(envMasterKeys, "")
	t.Setenv(envMasterKeysFile, filepath.Join(dir, "missing"))
	if _, err := LoadMasterKeys(dir); err == nil {
		t.Error("a missing " + envMasterKeysFile + " was accepted")
	}
}
