// Package auth authenticates the API's callers and says what each may do.
//
// Consumes: the Authorization header of a request ("Bearer <token>"). Keeps: the configured API
// keys (as SHA-256 digests, never the tokens) and, for JWTs, the verification keys (a shared
// HS256 secret, or a JWKS fetched from a URL and refreshed). Emits: a Principal — who calls,
// with which scopes, bound to which customer — or ErrUnauthenticated.
//
// Two scopes:
//   - ScopeCustomer places and reads orders of the one customer the token is bound to;
//   - ScopeOperations sets and reads stock, lists and reads every order, and reads the
//     operational endpoints (/metrics, dead letters, profiles).
package auth

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Scopes.
const (
	ScopeCustomer   = "customer"
	ScopeOperations = "operations"
)

// ErrUnauthenticated is wrapped by every refusal of a token (missing, unknown, expired, badly
// signed): the API answers 401 without saying which.
var ErrUnauthenticated = errors.New("unauthenticated")

// Principal is an authenticated caller.
type Principal struct {
	ID       string   // names the caller in logs and rate limits (an API key's name, a JWT's subject)
	Scopes   []string // ScopeCustomer, ScopeOperations
	Customer string   // the customer a ScopeCustomer token acts for
	Rate     float64  // requests per second this caller may make (0: the API's default)
}

// Can reports whether the principal holds scope.
func (p Principal) Can(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Authenticator turns a bearer token into a Principal.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// FromRequest reads the bearer token of r and authenticates it.
func FromRequest(a Authenticator, r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return Principal{}, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	return a.Authenticate(r.Context(), strings.TrimSpace(token))
}

// Chain tries each authenticator in turn: the first to accept the token wins.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(ctx context.Context, token string) (Principal, error) {
	for _, a := range c {
		if p, err := a.Authenticate(ctx, token); err == nil {
			return p, nil
		}
	}
	return Principal{}, fmt.Errorf("%w: token not accepted", ErrUnauthenticated)
}

// Keys are static API keys.
type Keys struct {
	keys []key
}

type key struct {
	digest [sha256.Size]byte
	p      Principal
}

// ParseKeys reads API keys, one per line:
// `<name> <token> <scope>[,<scope>] [customer=<id>] [rate=<requests per second>]`.
// Blank lines and lines starting with # are skipped. A customer-scoped key must name its
// customer; tokens must be at least 16 characters.
func ParseKeys(r io.Reader) (*Keys, error) {
	k := &Keys{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("api keys line %d: want <name> <token> <scopes> [customer=<id>]", n)
		}
		p := Principal{ID: f[0], Scopes: strings.Split(f[2], ",")}
		for _, s := range p.Scopes {
			if s != ScopeCustomer && s != ScopeOperations {
				return nil, fmt.Errorf("api keys line %d: unknown scope %q (want %s or %s)", n, s, ScopeCustomer, ScopeOperations)
			}
		}
		for _, opt := range f[3:] {
			if v, ok := strings.CutPrefix(opt, "customer="); ok && v != "" {
				p.Customer = v
				continue
			}
			if v, ok := strings.CutPrefix(opt, "rate="); ok {
				r, err := strconv.ParseFloat(v, 64)
				if err != nil || r <= 0 {
					return nil, fmt.Errorf("api keys line %d: rate must be a positive number of requests per second", n)
				}
				p.Rate = r
				continue
			}
			return nil, fmt.Errorf("api keys line %d: unknown option %q", n, opt)
		}
		if p.Can(ScopeCustomer) && !p.Can(ScopeOperations) && p.Customer == "" {
			return nil, fmt.Errorf("api keys line %d: a %s key needs customer=<id>", n, ScopeCustomer)
		}
		if len(f[1]) < 16 {
			return nil, fmt.Errorf("api keys line %d: the token of %s is shorter than 16 characters", n, p.ID)
		}
		k.keys = append(k.keys, key{digest: sha256.Sum256([]byte(f[1])), p: p})
	}
	return k, sc.Err()
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.keys) }

// Authenticate implements Authenticator (constant time in the token).
func (k *Keys) Authenticate(_ context.Context, token string) (Principal, error) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range k.keys {
		if subtle.ConstantTimeCompare(d[:], k.keys[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, fmt.Errorf("%w: unknown api key", ErrUnauthenticated)
	}
	return k.keys[found].p, nil
}

// Claims are the JWT claims orderflow reads: the registered ones, the space-separated scopes
// ("scope", as OAuth 2 puts them) and the customer a customer token acts for.
type Claims struct {
	jwt.Claims
	Scope    string `json:"scope"`
	Customer string `json:"customer_id"`
}

// JWT validates signed JWTs: signature, expiry (required), not-before, and the issuer and
// audience when configured.
type JWT struct {
	Issuer, Audience string
	keys             func(ctx context.Context) (any, error) // the verification key or *jose.JSONWebKeySet
	algs             []jose.SignatureAlgorithm
	now              func() time.Time
}

// NewHS256 validates JWTs signed with a shared secret (at least 32 bytes).
func NewHS256(secret []byte, issuer, audience string) (*JWT, error) {
	if len(secret) < 32 {
		return nil, errors.New("auth: the JWT secret must be at least 32 bytes")
	}
	return &JWT{Issuer: issuer, Audience: audience, keys: func(context.Context) (any, error) { return secret, nil },
		algs: []jose.SignatureAlgorithm{jose.HS256}, now: time.Now}, nil
}

// NewJWKS validates JWTs signed with a key of the JSON Web Key Set at url (RS256, ES256, EdDSA),
// fetched on first use and again every refresh (default 10 minutes) or when a token names an
// unknown key id.
func NewJWKS(url, issuer, audience string, refresh time.Duration) *JWT {
	if refresh <= 0 {
		refresh = 10 * time.Minute
	}
	f := &jwksFetcher{url: url, refresh: refresh, client: &http.Client{Timeout: 5 * time.Second}}
	return &JWT{Issuer: issuer, Audience: audience, keys: f.get,
		algs: []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}, now: time.Now}
}

// Authenticate implements Authenticator.
func (j *JWT) Authenticate(ctx context.Context, token string) (Principal, error) {
	tok, err := jwt.ParseSigned(token, j.algs)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	key, err := j.keys(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: verification keys: %v", ErrUnauthenticated, err)
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if c.Expiry == nil {
		return Principal{}, fmt.Errorf("%w: the token has no expiry", ErrUnauthenticated)
	}
	want := jwt.Expected{Issuer: j.Issuer, Time: j.now()}
	if j.Audience != "" {
		want.AnyAudience = jwt.Audience{j.Audience}
	}
	if err := c.ValidateWithLeeway(want, 30*time.Second); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	p := Principal{ID: "jwt:" + c.Subject, Scopes: strings.Fields(c.Scope), Customer: c.Customer}
	if p.Can(ScopeCustomer) && !p.Can(ScopeOperations) && p.Customer == "" {
		return Principal{}, fmt.Errorf("%w: a %s token without customer_id", ErrUnauthenticated, ScopeCustomer)
	}
	return p, nil
}

type jwksFetcher struct {
	url     string
	refresh time.Duration
	client  *http.Client

	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	fetched time.Time
}

func (f *jwksFetcher) get(ctx context.Context) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set != nil && time.Since(f.fetched) < f.refresh {
		return f.set, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if f.set != nil {
			return f.set, nil // keep serving the last set while the issuer is unreachable
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS %s answered %s", f.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", f.url, err)
	}
	f.set, f.fetched = &set, time.Now()
	return f.set, nil
}

// Config says where the credentials come from; FromEnv reads it.
type Config struct {
	KeysFile  string // ORDERFLOW_API_KEYS_FILE: API keys, one per line (see ParseKeys)
	Keys      string // ORDERFLOW_API_KEYS: the same, lines separated by ';'
	JWTSecret string // ORDERFLOW_JWT_HS256_SECRET
	JWKSURL   string // ORDERFLOW_JWKS_URL
	Issuer    string // ORDERFLOW_JWT_ISSUER
	Audience  string // ORDERFLOW_JWT_AUDIENCE
}

// FromEnv reads the credentials' configuration from the environment.
func FromEnv() Config {
	return Config{KeysFile: os.Getenv("ORDERFLOW_API_KEYS_FILE"), Keys: os.Getenv("ORDERFLOW_API_KEYS"),
		JWTSecret: os.Getenv("ORDERFLOW_JWT_HS256_SECRET"), JWKSURL: os.Getenv("ORDERFLOW_JWKS_URL"),
		Issuer: os.Getenv("ORDERFLOW_JWT_ISSUER"), Audience: os.Getenv("ORDERFLOW_JWT_AUDIENCE")}
}

// Configured reports whether any credential is configured.
func (c Config) Configured() bool {
	return c.KeysFile != "" || c.Keys != "" || c.JWTSecret != "" || c.JWKSURL != ""
}

// Build returns the authenticator of c (nil when nothing is configured).
func (c Config) Build() (Authenticator, error) {
	var chain Chain
	if c.KeysFile != "" || c.Keys != "" {
		var lines []string
		if c.KeysFile != "" {
			b, err := os.ReadFile(c.KeysFile)
			if err != nil {
				return nil, fmt.Errorf("auth: api keys: %w", err)
			}
			lines = append(lines, string(b))
		}
		lines = append(lines, strings.ReplaceAll(c.Keys, ";", "\n"))
		keys, err := ParseKeys(strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		chain = append(chain, keys)
	}
	if c.JWTSecret != "" {
		j, err := NewHS256([]byte(c.JWTSecret), c.Issuer, c.Audience)
		if err != nil {
			return nil, err
		}
		chain = append(chain, j)
	}
	if c.JWKSURL != "" {
		chain = append(chain, NewJWKS(c.JWKSURL, c.Issuer, c.Audience, 0))
	}
	if len(chain) == 0 {
		return nil, nil
	}
	return chain, nil
}

// NewToken returns a random token for an API key (32 bytes, hex).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
