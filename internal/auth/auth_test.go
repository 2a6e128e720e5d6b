package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/orderflow/orderflow/internal/auth"
)

const keysFile = `
# name token scopes [customer=]
ops   0123456789abcdef-ops    operations
alice 0123456789abcdef-alice  customer customer=c-alice
`

func TestKeys(t *testing.T) {
	k, err := auth.ParseKeys(strings.NewReader(keysFile))
	if err != nil || k.Len() != 2 {
		t.Fatalf("parse: %v, %d keys", err, k.Len())
	}
	p, err := k.Authenticate(context.Background(), "0123456789abcdef-alice")
	if err != nil || p.ID != "alice" || p.Customer != "c-alice" || !p.Can(auth.ScopeCustomer) || p.Can(auth.ScopeOperations) {
		t.Errorf("alice: %+v %v", p, err)
	}
	if _, err := k.Authenticate(context.Background(), "0123456789abcdef-nobody"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("unknown key: %v", err)
	}
	if c, err := auth.ParseKeys(strings.NewReader("carol 0123456789abcdef-carol operations rate=500")); err != nil {
		t.Errorf("rate option: %v", err)
	} else if p, _ := c.Authenticate(context.Background(), "0123456789abcdef-carol"); p.Rate != 500 {
		t.Errorf("rate %v, want 500", p.Rate)
	}
	for _, bad := range []string{
		"bob 0123456789abcdef-bob operations rate=0",      // no rate
		"bob 0123456789abcdef-bob operations rate=fast",   // not a number
		"bob tooshort customer customer=c-bob",            // short token
		"bob 0123456789abcdef-bob customer",               // customer key without customer
		"bob 0123456789abcdef-bob admin",                  // unknown scope
		"bob 0123456789abcdef-bob operations colour=blue", // unknown option
		"bob", // too few fields
	} {
		if _, err := auth.ParseKeys(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func sign(t *testing.T, key jose.SigningKey, c any) string {
	t.Helper()
	s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestHS256(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	j, err := auth.NewHS256(secret, "https://issuer.example", "orderflow")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(mod func(*auth.Claims)) auth.Claims {
		c := auth.Claims{Claims: jwt.Claims{Subject: "u-1", Issuer: "https://issuer.example", Audience: jwt.Audience{"orderflow"},
			Expiry: jwt.NewNumericDate(now.Add(time.Hour))}, Scope: "customer", Customer: "c-1"}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	good := sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims(nil))
	p, err := j.Authenticate(context.Background(), good)
	if err != nil || p.Customer != "c-1" || !p.Can(auth.ScopeCustomer) || p.ID != "jwt:u-1" {
		t.Fatalf("good token: %+v %v", p, err)
	}
	refused := map[string]string{
		"expired":          sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims(func(c *auth.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) })),
		"no expiry":        sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims(func(c *auth.Claims) { c.Expiry = nil })),
		"other issuer":     sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims(func(c *auth.Claims) { c.Issuer = "evil" })),
		"other audience":   sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims(func(c *auth.Claims) { c.Audience = jwt.Audience{"x"} })),
		"customerless":     sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, claims(func(c *auth.Claims) { c.Customer = "" })),
		"wrong secret":     sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte("another-secret-another-secret-xx")}, claims(nil)),
		"not a jwt":        "abc.def",
		"alg none smuggle": strings.Split(good, ".")[0] + "." + strings.Split(good, ".")[1] + ".",
	}
	for name, tok := range refused {
		if _, err := j.Authenticate(context.Background(), tok); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	if _, err := auth.NewHS256([]byte("short"), "", ""); err == nil {
		t.Error("a short secret accepted")
	}
}

func TestJWKS(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rk.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(set) }))
	defer srv.Close()
	j := auth.NewJWKS(srv.URL, "", "", time.Minute)
	key := jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: rk, KeyID: "k1"}}
	tok := sign(t, key, auth.Claims{Claims: jwt.Claims{Subject: "ops-1", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}, Scope: "operations"})
	p, err := j.Authenticate(context.Background(), tok)
	if err != nil || !p.Can(auth.ScopeOperations) {
		t.Fatalf("JWKS token: %+v %v", p, err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := sign(t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: other, KeyID: "k1"}},
		auth.Claims{Claims: jwt.Claims{Subject: "ops-1", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}, Scope: "operations"})
	if _, err := j.Authenticate(context.Background(), forged); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a token signed by another key accepted: %v", err)
	}
}
